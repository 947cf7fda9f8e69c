"""Small holes, each a promise: ``keygen`` never overwrites a key and makes its folder; a user
network calling ``sys.exit()`` is an error, not a silent exit 0; a refused export leaves no empty
``--out`` behind; an input too large for memory is one line, not a traceback."""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path

import pytest
from reliability_helpers import cli

from chanattn_export.cli import main
from chanattn_export.errors import InvalidSpecError


def _one_line(err: str, needle: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err


# -- keygen ---------------------------------------------------------------------------------------


def test_keygen_refuses_to_overwrite_an_existing_public_key(tmp_path, capsys):
    pytest.importorskip("cryptography")
    pub = tmp_path / "release.pem.pub"
    pub.write_text("the public key every release was verified with\n")
    assert main(["keygen", str(tmp_path / "release.pem")]) == 2
    _one_line(capsys.readouterr().err, f"{pub} exists; refusing to overwrite a key")
    assert pub.read_text().startswith("the public key every release")
    assert not (tmp_path / "release.pem").exists()


def test_keygen_refuses_to_overwrite_an_existing_private_key(tmp_path, capsys):
    pytest.importorskip("cryptography")
    key = tmp_path / "release.pem"
    key.write_text("secret")
    assert main(["keygen", str(key)]) == 2
    _one_line(capsys.readouterr().err, f"{key} exists; refusing to overwrite a key")
    assert key.read_text() == "secret" and not (tmp_path / "release.pem.pub").exists()


def test_keygen_creates_a_missing_key_folder(tmp_path, capsys):
    pytest.importorskip("cryptography")
    key = tmp_path / "keys" / "ci" / "release.pem"
    assert main(["keygen", str(key)]) == 0, capsys.readouterr().err
    assert key.is_file() and (tmp_path / "keys" / "ci" / "release.pem.pub").is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700


def test_keygen_under_a_regular_file_is_one_line(tmp_path, capsys):
    pytest.importorskip("cryptography")
    (tmp_path / "keys").write_text("not a folder")
    assert main(["keygen", str(tmp_path / "keys" / "release.pem")]) == 2
    _one_line(capsys.readouterr().err, "cannot create the key folder")


# -- a user network that calls sys.exit() --------------------------------------------------------


NET = textwrap.dedent("""
    import sys
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return self.conv(x)

    class Quitter(Tiny):
        def forward(self, x):
            sys.exit(0)

    class LateQuitter(Tiny):
        def forward(self, x):  # only at a batch the parity check uses, after the first pass
            if x.shape[0] == 3:
                sys.exit(0)
            return self.conv(x)
""")


@pytest.fixture
def netfile(tmp_path: Path) -> Path:
    path = tmp_path / "net.py"
    path.write_text(NET)
    return path


@pytest.mark.parametrize(("cls", "needle"), [
    ("Quitter", "the network's forward fails on input_shape [1, 3, 8, 8] (NCHW): it called "
                "sys.exit(0)"),
    ("LateQuitter", "the model's code (your network or a plugin block) called sys.exit(0) "
                    "during the export; nothing was written"),
])
def test_a_network_calling_sys_exit_is_an_error_not_exit_0(netfile, tmp_path, cls, needle):
    out = tmp_path / "out"
    p = cli("onnx", "--network", f"{netfile}:{cls}", "--input-shape", "1,3,8,8",
            "--out", str(out))
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    _one_line(p.stderr.splitlines()[-1] + "\n", needle)
    assert not out.exists()


def test_the_api_turns_sys_exit_into_its_error(netfile, tmp_path):
    import importlib.util

    from chanattn_export import api

    spec = importlib.util.spec_from_file_location("quitters", netfile)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(InvalidSpecError, match=r"called sys.exit\(0\)"):
        api.export_onnx(mod.LateQuitter(), input_shape=(1, 3, 8, 8), out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


# -- a refused export leaves no empty --out ------------------------------------------------------


def test_a_refused_export_leaves_no_empty_out_folder(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "out"
    assert main(["onnx", "--opset", "99", "--channels", "8", "--height", "8", "--width", "8",
                 "--out", str(out)]) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the progress line
    _one_line(last + "\n", "opset 99 is newer than the installed onnx")
    assert list(tmp_path.iterdir()) == []  # out and the parents made for it are gone


def test_a_failed_parity_not_kept_leaves_no_empty_out_folder(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["onnx", "--model", "se", "--channels", "8", "--height", "8", "--width", "8",
                 "--atol", "0", "--rtol", "0", "--out", str(out)]) == 1
    assert "not written" in capsys.readouterr().out and not out.exists()


def test_an_existing_empty_out_folder_is_kept(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["onnx", "--opset", "99", "--out", str(out)]) == 2
    assert out.is_dir()


# -- an input too large ----------------------------------------------------------------------------


def test_an_input_shape_too_large_is_one_line(netfile, tmp_path):
    out = tmp_path / "out"
    p = cli("onnx", "--network", f"{netfile}:Tiny", "--input-shape", "64,3,8192,8192",
            "--out", str(out))
    assert p.returncode == 2 and not out.exists()
    _one_line(p.stderr, "input shape [64, 3, 8192, 8192] (a parity input) has 1.29e+10 "
                        "elements, 48 GiB of float32: more than the 2**28 elements")


def test_a_registered_model_too_large_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["onnx", "--batch", "4096", "--height", "8192", "--width", "8192",
                 "--out", str(out)]) == 2
    _one_line(capsys.readouterr().err, "input shape [4096, 64, 8192, 8192] (a parity input)")
    assert not out.exists()


def test_an_allocation_failure_anywhere_is_one_line(monkeypatch, capsys):
    def oom(*_a, **_k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't "
                           "allocate memory: you tried to allocate 51539607552 bytes.")

    monkeypatch.setattr("chanattn_export.api.export_onnx", oom)
    assert main(["onnx"]) == 2
    _one_line(capsys.readouterr().err, "error: out of memory")

    def bug(*_a, **_k):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr("chanattn_export.api.export_onnx", bug)
    with pytest.raises(RuntimeError, match="a bug of ours"):  # bugs keep their traceback
        main(["onnx"])
