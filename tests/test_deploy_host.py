"""A deployment host: only numpy, onnxruntime and this package (``pip install --no-deps``).

``verify DIR`` checks checksums and the stored evidence through onnxruntime, says in one line
what it could not check without torch, passes a good folder and fails a tampered one; every
command that needs torch says so in one line with exit 2. Run in a subprocess whose imports
of torch, onnx, onnxscript, safetensors and filelock fail (tests/torchless.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import read_manifest
from torchless import make_world_readable_base, run_torchless

import chanattn_export as ca
from chanattn_export.artifacts import sha256_bytes
from chanattn_export.artifacts.evidence import decode_reference, encode_reference, reference_name

TINY = {"channels": 8, "height": 8, "width": 8}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = make_world_readable_base(tmp_path_factory.mktemp("host"))
    ca.export_onnx("cbam-channel", out=base / "art", **TINY)
    ca.export_torchscript("se", out=base / "art", **TINY)
    return base


def _cli(base: Path, *argv: str):
    return run_torchless(["-m", "chanattn_export", *argv], base)


def test_verify_passes_a_good_folder_and_names_what_it_could_not_check(host: Path) -> None:
    p = _cli(host, "verify", "art")
    assert p.returncode == 0, p.stdout + p.stderr[-2000:]
    (warning, summary) = p.stdout.strip().splitlines()
    assert warning.startswith("art/manifest.json: warning: not checked here: ")
    assert "1 TorchScript file not loaded" in warning
    assert "without torch: 1 block not rebuilt from the weights file" in warning
    assert "pip install torch==2.13.0" in warning
    assert summary.startswith("verify art: no errors, 1 warning")
    strict = _cli(host, "verify", "art", "--strict", "--json")
    assert strict.returncode == 1 and json.loads(strict.stdout)["ok"] is False


def test_verify_fails_a_tampered_folder(host: Path) -> None:
    """Evidence outputs the model does not compute, checksums rewritten to match: the stored
    evidence alone catches it, with no torch to rebuild the block."""
    bad = Path(shutil.copytree(host / "art", host / "tampered"))
    m = read_manifest(bad)
    (a,) = [a for a in m["artifacts"] if a["format"] == "onnx"]
    ref = decode_reference((bad / a["reference"]).read_bytes())
    data = encode_reference(ref.names, ref.inputs, [y * 1.01 + 0.01 for y in ref.outputs],
                            model="cbam-channel", seed=0)
    new = reference_name("cbam-channel-nchw-c8-r8", sha256_bytes(data))
    (bad / new).write_bytes(data)
    for f in a["files"]:
        if f["path"] == a["reference"]:
            f.update(path=new, sha256=sha256_bytes(data), size=len(data))
    a["reference"] = new
    (bad / "manifest.json").write_text(json.dumps(m))
    p = _cli(host, "verify", "tampered")
    assert p.returncode == 1
    (fail,) = [line for line in p.stdout.splitlines() if "parity fails" in line]
    assert fail.startswith(f"tampered/{a['path']}: parity fails on onnxruntime-cpu")
    assert f"(eager reference stored in {new})" in fail


def test_verify_runs_the_stored_evidence_in_onnxruntime(host: Path) -> None:
    p = _cli(host, "parity", "art", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    (onnx,) = [a for a in doc["artifacts"] if a["format"] == "onnx"]
    refs = {c["reference"] for c in onnx["parity"]["checks"]}
    assert refs == {"stored"} and onnx["passed"]
    assert sorted(onnx["not_checked"]) == ["no-onnx-checker", "not-rebuilt"]
    (ts,) = [a for a in doc["artifacts"] if a["format"] == "torchscript"]
    assert ts["skipped"] == "torchscript-not-trusted"
    assert np.isfinite([c["max_abs"] for c in onnx["parity"]["checks"]]).all()


@pytest.mark.parametrize("argv", [["list"], ["onnx"], ["torchscript"], ["pt2"], ["all"],
                                  ["bench", "--quick"],
                                  ["onnx", "--network", "x.py:net", "--input-shape", "1,3,8,8"]])
def test_commands_that_need_torch_say_so_in_one_line(host: Path, argv: list[str]) -> None:
    p = _cli(host, *argv)
    assert p.returncode == 2, p.stderr[-2000:]
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith(f"error: {argv[0]} needs torch, which is not installed here: ")
    assert "pip install torch==" in line and p.stdout == ""
