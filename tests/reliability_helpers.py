"""Helpers shared by the reliability tests: a tiny artifact folder and manifest surgery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from chanattn_export import api
from chanattn_export.artifacts import TMP_PREFIX, sha256_file

TINY = {"channels": 8, "height": 8, "width": 8}
ONNX_NAME = "cbam-channel-nchw-c8-r8-8x8.onnx"
PT_NAME = "se-nchw-c8-r8-8x8.pt"
REPO = Path(__file__).resolve().parent.parent


def build_folder(out: Path) -> Path:
    """One ONNX and one TorchScript artifact (about 1 s after the first export)."""
    api.export_onnx("cbam-channel", out=out, **TINY)
    api.export_torchscript("se", out=out, **TINY)
    return out


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def resign(folder: Path, rel: str) -> None:
    """What an attacker does after changing ``rel``: rewrite its checksums in the manifest."""
    m = read_manifest(folder)
    sha = sha256_file(folder / rel)
    for a in m["artifacts"]:
        if a["path"] == rel:
            a["sha256"] = sha
        for f in a["files"]:
            if f["path"] == rel:
                f["sha256"] = sha
                if "size" in f:
                    f["size"] = (folder / rel).stat().st_size
    write_manifest(folder, m)


def scale_weights(path: Path, factor: float) -> None:
    """The ONNX file at ``path`` computes wrong outputs: every float32 initializer with more
    than one element is scaled by ``factor`` (the caller rewrites the checksums it wants)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 1:
            init.CopyFrom(numpy_helper.from_array(arr * np.float32(factor), init.name))
    path.write_bytes(model.SerializeToString())


def assert_consistent(folder: Path) -> None:
    """Every manifest entry names existing files with the recorded checksums; no temp files."""
    assert not list(folder.glob(TMP_PREFIX + "*")), list(folder.glob(TMP_PREFIX + "*"))
    if not (folder / "manifest.json").exists():
        return
    for a in read_manifest(folder)["artifacts"]:
        assert a["files"][0]["sha256"] == a["sha256"]
        for f in a["files"]:
            assert (folder / f["path"]).is_file(), f["path"]
            assert sha256_file(folder / f["path"]) == f["sha256"], f["path"]


def cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chanattn_export", *args], cwd=kw.pop("cwd", None),
                          capture_output=True, text=True, timeout=timeout, env=child_env(), **kw)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
