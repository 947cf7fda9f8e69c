"""The artifact folder: manifest contents, checksums, atomic and consistent writes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from safetensors.torch import load_file

import chanattn_export.fileio as fileio
from chanattn_export import ArtifactError, export_onnx, export_torchscript
from chanattn_export.artifacts import ArtifactFolder

SMALL = {"channels": 8, "height": 6, "width": 6}
# Folder behaviour does not depend on the ONNX exporter: the legacy one is ~10x cheaper.
LEGACY = {**SMALL, "exporter": "legacy"}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def _assert_consistent(d: Path) -> None:
    """Every manifest entry names existing files with exactly those checksums."""
    for a in _manifest(d)["artifacts"]:
        assert _sha(d / a["path"]) == a["sha256"]
        for f in a["files"]:
            assert _sha(d / f["path"]) == f["sha256"], f["path"]


def test_manifest_describes_each_export(tmp_path: Path) -> None:
    res = export_onnx("cbam-channel", out=tmp_path, **SMALL)
    (entry,) = _manifest(tmp_path)["artifacts"]
    assert entry["path"] == res.path.name and entry["sha256"] == _sha(res.path)
    assert entry["status"] == "passed" and entry["format"] == "onnx"
    assert entry["exporter"] == "dynamo" and entry["opset"] == 18
    assert entry["model"] == {"name": "cbam-channel", "channels": 8, "ratio": 8, "layout": "nchw",
                              "hidden": None, "preset": "default"}
    assert entry["inputs"] == [{"name": "input", "dtype": "float32",
                                "dims": ["batch", 8, 6, 6], "shape": [1, 8, 6, 6]}]
    assert entry["outputs"][0]["name"] == "output"
    assert entry["outputs"][0]["dims"] == ["batch", 8, 6, 6]
    assert {"torch", "onnx", "onnxruntime", "chanattn_export"} <= set(entry["versions"])
    assert entry["parity"]["passed"] is True and entry["parity"]["atol"] == 1e-5
    assert len(entry["parity"]["checks"]) == 15
    roles = {f["role"]: f for f in entry["files"]}
    assert set(roles) == {"model", "weights", "reference"}  # reference: the evidence file
    assert entry["reference"] == roles["reference"]["path"]
    weights = tmp_path / roles["weights"]["path"]
    assert set(load_file(str(weights))) == {"channel_attention.fc1.weight",
                                           "channel_attention.fc2.weight"}
    _assert_consistent(tmp_path)


def test_gate_model_output_dims(tmp_path: Path) -> None:
    export_onnx("cbam-channel-gate", layout="nhwc", out=tmp_path, dynamic_hw=True, **SMALL)
    (entry,) = _manifest(tmp_path)["artifacts"]
    assert entry["inputs"][0]["dims"] == ["batch", "height", "width", 8]
    assert entry["outputs"][0]["dims"] == ["batch", 1, 1, 8]


def test_formats_share_one_weights_file_and_reexport_replaces_entry(tmp_path: Path) -> None:
    export_onnx("se", out=tmp_path, **LEGACY)
    export_torchscript("se", out=tmp_path, **SMALL)
    export_onnx("se", out=tmp_path, **LEGACY)
    m = _manifest(tmp_path)
    assert sorted(a["format"] for a in m["artifacts"]) == ["onnx", "torchscript"]
    assert len({a["weights"] for a in m["artifacts"]}) == 1
    assert len({a["reference"] for a in m["artifacts"]}) == 1  # and one evidence file
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    export_onnx("se", out=tmp_path, seed=1, **LEGACY)  # other weights: new weights and evidence
    assert len(list(tmp_path.glob("*.safetensors"))) == 4
    _assert_consistent(tmp_path)


def test_failed_export_never_lands_beside_passing_ones(tmp_path: Path) -> None:
    """A failed export is not written; the passing artifact of that name stays as it was."""
    good = export_onnx("cbam", out=tmp_path, **LEGACY)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    res = export_onnx("cbam", out=tmp_path, atol=0.0, rtol=0.0, seed=1, **LEGACY)
    assert not res.passed and not res.written
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    (entry,) = _manifest(tmp_path)["artifacts"]
    assert entry["status"] == "passed" and entry["sha256"] == good.sha256
    _assert_consistent(tmp_path)


def test_keep_failed_writes_under_failed_with_its_record(tmp_path: Path) -> None:
    res = export_onnx("cbam", out=tmp_path, atol=0.0, rtol=0.0, keep_failed=True,
                      **LEGACY)
    assert not res.passed and res.written
    assert res.path.parent == tmp_path / "failed" and res.path.is_file()
    record = json.loads((tmp_path / "failed" / (res.path.name + ".json")).read_text())
    assert record["status"] == "failed" and record["parity"]["passed"] is False
    assert not list(tmp_path.glob("*.onnx"))  # nothing loadable beside passing artifacts
    assert not (tmp_path / "manifest.json").exists()


def test_weights_of_replaced_exports_are_collected(tmp_path: Path) -> None:
    export_onnx("se", out=tmp_path, **LEGACY)
    export_onnx("se", out=tmp_path, seed=1, **LEGACY)
    (entry,) = _manifest(tmp_path)["artifacts"]
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == sorted(
        [entry["weights"], entry["reference"]])
    _assert_consistent(tmp_path)


def test_write_atomic_removes_temp_on_error(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        fileio.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


@pytest.mark.parametrize("rel", ["../x.onnx", "/etc/passwd", "a/../../b", "..", ""])
def test_manifest_paths_cannot_escape(tmp_path: Path, rel: str) -> None:
    with pytest.raises(ArtifactError):
        ArtifactFolder(tmp_path).resolve(rel)


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ArtifactError, match=r"not a folder|cannot create"):
        export_onnx("se", out=f, **SMALL)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exported_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """A deployment running as another user must read what was exported under umask 022
    (mkstemp alone would leave every file 0600)."""
    old = os.umask(umask)
    try:
        export_onnx("se", out=tmp_path, **SMALL)
    finally:
        os.umask(old)
    files = list(tmp_path.iterdir())
    assert {p.suffix for p in files} >= {".onnx", ".json", ".safetensors"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == mode, (p.name, oct(p.stat().st_mode))
