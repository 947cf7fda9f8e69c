"""`onnx/torchscript/pt2 --network REF --input-shape ...`: a user's own network exported from the
command line, the file judged against that network, and every wrong REF one line, exit 2,
nothing written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from reliability_helpers import cli

from chanattn_export.cli import main

NET = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y * torch.sigmoid(y.amax((2, 3), keepdim=True))

    def build():
        torch.manual_seed(7)
        return Net()

    class Zoo:
        build = staticmethod(build)

    def broken():
        raise RuntimeError("weights.pt missing")

    def not_a_net():
        return 42

    number = 3
""")


@pytest.fixture
def netfile(tmp_path: Path) -> Path:
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return path


def _user_net(path: Path) -> torch.nn.Module:
    scope: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)
    return scope["build"]().eval()  # type: ignore[operator]


def test_file_ref_exports_the_network_it_names(netfile: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["onnx", "--network", f"{netfile}:build", "--input-shape", "2,3,8,6",
               "--name", "mynet", "--out", str(out)])
    assert rc == 0, capsys.readouterr()
    model = out / "mynet-nchw-c3-8x6.onnx"
    x = np.random.default_rng(0).standard_normal((5, 3, 8, 6), dtype=np.float32)
    got = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {
        "input": x})[0]
    with torch.no_grad():
        want = _user_net(netfile)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # batch 5: dynamic batch
    assert main(["verify", str(out)]) == 0


def test_module_ref_is_imported_from_the_current_folder(netfile: Path, tmp_path: Path) -> None:
    res = cli("torchscript", "--network", "mynet:Zoo.build", "--input-shape", "1,3,8,8",
              "--out", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "net-nchw-c3-8x8.pt").is_file()  # default name: the class name


@pytest.mark.parametrize(("ref", "message"), [
    ("{file}:broken", "calling broken() failed: RuntimeError: weights.pt missing"),
    ("{file}:not_a_net", "not_a_net() returned type int, not an nn.Module"),
    ("{file}:number", "number is neither an nn.Module nor a function returning one"),
    ("{file}:missing", "has no attribute 'missing'"),
    ("{dir}/absent.py:build", "no such file"),
    ("no_such_module_xyz:build", "no module named 'no_such_module_xyz'"),
    ("{file}", "expected package.module:attr or path/to/file.py:attr"),
])
def test_a_wrong_ref_is_one_line_and_writes_nothing(netfile: Path, tmp_path: Path, capsys,
                                                    ref: str, message: str) -> None:
    out = tmp_path / "out"
    ref = ref.format(file=netfile, dir=tmp_path)
    rc = main(["onnx", "--network", ref, "--input-shape", "1,3,8,8", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("error: --network") and message in err[-1], err
    assert not out.exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "se"], "not both"),
    (["--channels", "8"], "channels describe a registered block"),
    (["--input-shape", "1,3,8"], "4 dims"),
    (["--input-shape", "1,3,x,8"], "comma-separated integers"),
])
def test_options_that_contradict_a_network_are_refused(netfile: Path, tmp_path: Path, capsys,
                                                       extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    args = ["onnx", "--network", f"{netfile}:build", "--input-shape", "1,3,8,8", *extra]
    try:
        rc = main([*args, "--out", str(out)])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_network_options_without_a_network_are_refused(tmp_path: Path, capsys) -> None:
    rc = main(["onnx", "--input-shape", "1,3,8,8", "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "--input-shape and --name are for --network" in capsys.readouterr().err
