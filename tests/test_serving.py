"""chanattn_export.serving: what a torch-free deployment relies on, tested as one would run it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import ONNX_NAME, PT_NAME, TINY, read_manifest, write_manifest
from torchless import as_nobody_prefix, make_world_readable_base, run_torchless

from chanattn_export import api
from chanattn_export.errors import ArtifactError, InputError, MissingDependencyError
from chanattn_export.serving import load_artifact

SCRIPT = r'''
import json, sys
from pathlib import Path
import numpy as np

import chanattn_export  # the package root must stay lazy
from chanattn_export.errors import ArtifactError, InputError
from chanattn_export.serving import load_artifact

base = Path(sys.argv[1])
res = {}
m = load_artifact(base / "art")
y = m.run(np.load(base / "x.npy"))
res["max_diff"] = float(np.abs(y - np.load(base / "y_eager.npy")).max())
res["input"] = [m.input.name, list(m.input.dims), m.input.dtype, str(m.input.layout)]
res["passed"] = m.parity.passed
x = np.load(base / "x.npy")
for name, bad in (("shape", x[:, :-1]), ("dtype", x.astype(np.float64))):
    try:
        m.run(np.ascontiguousarray(bad))
        res[name] = None
    except InputError as e:
        res[name] = str(e)
for name in ("failed", "tampered"):
    try:
        load_artifact(base / name)
        res[name] = None
    except ArtifactError as e:
        res[name] = str(e)
res["attempts"] = sys.blocked_import_attempts
res["loaded"] = sorted(k for k in sys.modules
                       if k.split(".")[0] in ("torch", "onnx", "safetensors"))
print(json.dumps(res))
'''


@pytest.fixture(scope="module")
def served_base():
    """An exported folder (umask 022), a FAILED copy, a tampered copy, an input, eager's output.

    Under the system temp folder, not pytest's (0700 under root): another user must reach it.
    """
    base = make_world_readable_base()
    old = os.umask(0o022)  # the deployment's files must not depend on the tester's umask
    try:
        _build(base)
    finally:
        os.umask(old)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _build(base: Path) -> None:
    from chanattn_export.registry import build_model
    from chanattn_export.runtime import EagerRunner
    from chanattn_export.spec import ModelSpec

    api.export_onnx("cbam-channel", out=base / "art", **TINY)
    api.export_torchscript("se", out=base / "art", **TINY)
    entry = next(a for a in read_manifest(base / "art")["artifacts"] if a["path"] == ONNX_NAME)
    net = build_model(ModelSpec.from_dict(entry["model"]),
                      (base / "art" / entry["weights"]).read_bytes())
    x = np.random.default_rng(1).standard_normal((3, TINY["channels"], 8, 8)).astype(np.float32)
    np.save(base / "x.npy", x)
    np.save(base / "y_eager.npy", EagerRunner(net).infer(x))

    shutil.copytree(base / "art", base / "failed")
    m = read_manifest(base / "failed")
    for a in m["artifacts"]:
        a["status"] = "failed"
        a["parity"]["passed"] = False
    write_manifest(base / "failed", m)

    shutil.copytree(base / "art", base / "tampered")
    model = base / "tampered" / ONNX_NAME
    data = bytearray(model.read_bytes())
    i = data.index(b"channel attention exported")  # the doc string: still a loadable model
    data[i] ^= 0x20
    model.write_bytes(bytes(data))
    (base / "script.py").write_text(SCRIPT)


def _check(res: dict) -> None:
    assert res["attempts"] == [] and res["loaded"] == [], res
    assert res["max_diff"] <= 1e-5, res
    assert res["input"] == ["input", ["batch", 8, 8, 8], "float32", "nchw"]
    assert res["passed"] is True
    assert "(3, 7, 8, 8)" in res["shape"] and "[batch, 8, 8, 8]" in res["shape"]
    assert "float64" in res["dtype"] and "float32" in res["dtype"]
    assert "FAILED" in res["failed"] and "refusing" in res["failed"]
    assert "sha256 differs" in res["tampered"]


def test_serves_without_torch_onnx_or_safetensors(served_base):
    p = run_torchless([str(served_base / "script.py"), str(served_base)], served_base)
    assert p.returncode == 0, p.stderr[-3000:]
    _check(json.loads(p.stdout.strip().splitlines()[-1]))


def test_serves_as_another_user(served_base):
    """Files exported under umask 022 are 0644, so a non-root service account can load them."""
    art = served_base / "art"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in art.iterdir() if p.is_file()}
    assert modes and all(m == 0o644 for m in modes.values()), modes
    assert stat.S_IMODE(art.stat().st_mode) == 0o755
    prefix = as_nobody_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot drop to another user")
    probe = run_torchless(["-c", "import chanattn_export.serving"], served_base, prefix=prefix)
    if probe.returncode != 0:  # e.g. a checkout or virtualenv under a private (0700) folder
        pytest.skip("another user cannot run this interpreter or import this checkout: "
                    + (probe.stderr.strip().splitlines() or ["?"])[-1][:200])
    p = run_torchless([str(served_base / "script.py"), str(served_base)], served_base,
                      prefix=prefix)
    assert p.returncode == 0, p.stderr[-3000:]
    _check(json.loads(p.stdout.strip().splitlines()[-1]))


def test_the_blocking_hook_really_blocks(served_base):
    """The hook the tests above rely on: without it they would prove nothing."""
    p = run_torchless(["-c", "import torch"], served_base)
    assert p.returncode != 0 and "blocked: torchless test" in p.stderr


def test_concurrent_runs_from_threads(served_base):
    m = load_artifact(served_base / "art")
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1 + i % 4, 8, 8, 8)).astype(np.float32) for i in range(16)]
    want = [m.run(x) for x in xs]
    got: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        try:
            barrier.wait()
            got[t] = [m.run(xs[(t + k) % len(xs)]) for k in range(len(xs) * 3)]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for t, ys in got.items():
        for k, y in enumerate(ys):
            np.testing.assert_array_equal(y, want[(t + k) % len(xs)])


def test_choosing_among_several_artifacts(served_base):
    art = served_base / "art"
    with pytest.raises(ArtifactError, match="no ONNX artifact 'nope'"):
        load_artifact(art, "nope")
    with pytest.raises(ArtifactError, match="no ONNX artifact"):
        load_artifact(art, PT_NAME)  # TorchScript is not served: it is a program, not a graph
    assert load_artifact(art, ONNX_NAME).path.name == ONNX_NAME
    assert load_artifact(art, "cbam-channel").path.name == ONNX_NAME


def test_cuda_request_is_never_a_silent_cpu_fallback(served_base):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        m = load_artifact(served_base / "art", providers=["cuda"])
        assert m.provider == "CUDAExecutionProvider"  # verified from the session itself
        return
    with pytest.raises(MissingDependencyError, match="no CUDAExecutionProvider"):
        load_artifact(served_base / "art", providers="cuda")
    m = load_artifact(served_base / "art", providers=["cuda", "cpu"])
    assert m.provider == "CPUExecutionProvider"
    assert "CUDAExecutionProvider" in (m.fallback_reason or "")


def test_missing_manifest_and_wrong_shape_messages(served_base, tmp_path):
    with pytest.raises(ArtifactError, match="manifest"):
        load_artifact(tmp_path)
    m = load_artifact(served_base / "art")
    with pytest.raises(InputError, match="rank 4"):
        m.run(np.zeros((8, 8, 8), np.float32))
    with pytest.raises(InputError, match="this looks like an NHWC tensor"):
        m.run(np.zeros((2, 5, 5, 8), np.float32))


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "serve_onnxruntime.py"


def test_example_program_serves_a_npy_batch_without_torch(served_base, tmp_path):
    out = tmp_path / "y.npy"
    p = run_torchless([str(EXAMPLE), str(served_base / "art"), str(served_base / "x.npy"),
                       "--model", ONNX_NAME, "--out", str(out)], served_base)
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"{ONNX_NAME} on CPUExecutionProvider: input [3, 8, 8, 8]" in p.stdout
    y, want = np.load(out), np.load(served_base / "y_eager.npy")
    assert y.shape == want.shape and float(np.abs(y - want).max()) <= 1e-5

    bad = tmp_path / "bad.npy"
    np.save(bad, np.load(served_base / "x.npy").astype(np.float64))
    p = run_torchless([str(EXAMPLE), str(served_base / "art"), str(bad)], served_base)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: ") and "float64" in p.stderr
