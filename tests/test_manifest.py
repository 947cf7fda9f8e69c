"""The typed manifest: entries round-trip, and every malformed field is one clear ArtifactError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reliability_helpers import read_manifest

from chanattn_export import ArtifactError
from chanattn_export.artifacts import (
    FileRecord,
    Manifest,
    ManifestEntry,
    parse_manifest,
)
from chanattn_export.spec import Format, Layout


def _raw(folder: Path) -> dict:
    return read_manifest(folder)["artifacts"][0]


def test_entries_round_trip(pristine: Path) -> None:
    text = (pristine / "manifest.json").read_text()
    m = parse_manifest(text)
    assert len(m.entries) == 2
    e = m.entries[0]
    assert isinstance(e.format, Format) and isinstance(e.model.layout, Layout)
    assert e.model_file.sha256 == e.sha256 and e.weights_file.path == e.weights
    assert e.passed and e.inputs[0]["name"] == "input"
    assert json.loads(m.to_json()) == json.loads(text)  # nothing lost, nothing invented


def test_with_entry_replaces_by_path(pristine: Path) -> None:
    m = parse_manifest((pristine / "manifest.json").read_text())
    e = m.entries[0]
    failed = e.with_parity({"passed": False}, passed=False)
    m2 = m.with_entry(failed)
    assert len(m2.entries) == 2 and m2.get(e.path).status == "failed"
    assert m2.without(e.path).get(e.path) is None


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("weights"), "lacks fields: weights"),
    (lambda d: d.update(sha256="xyz"), "64 lowercase hex"),
    (lambda d: d.update(files="a.onnx"), "'files' must list objects"),
    (lambda d: d.update(files=[1, 2]), "'files' must list objects"),
    (lambda d: d.update(weights=d["path"]), "names no weights file"),
    (lambda d: d.update(weights="other.safetensors"), "names no weights file"),
    (lambda d: d["files"].pop(0), "does not list its model"),
    (lambda d: d["files"].append(dict(d["files"][1])), "lists a path twice"),
    (lambda d: d.update(format="tflite"), "format must be one of"),
    (lambda d: d.update(model={"name": "se", "channels": 0}), "channels must be in"),
    (lambda d: d.update(model=[]), "'model' must be an object"),
    (lambda d: d.update(status="maybe"), "status must be"),
    (lambda d: d.update(opset="18"), "'opset' must be an integer"),
    (lambda d: d.update(parity=[]), "'parity' and 'versions' must be objects"),
    (lambda d: d.update(inputs={"name": "input"}), "'inputs' must be a list"),
])
def test_bad_fields_are_named(pristine: Path, change, message: str) -> None:
    d = _raw(pristine)
    change(d)
    with pytest.raises(ArtifactError, match=message) as info:
        ManifestEntry.from_dict(d, 0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ('{"manifest_version": 0, "artifacts": []}', "not a manifest version"),
    ('{"manifest_version": -5, "artifacts": []}', "not a manifest version"),
    ('{"manifest_version": true, "artifacts": []}', "integer 'manifest_version'"),
    ("[" * 10_000 + "]" * 10_000, "nested"),
])
def test_bad_top_level(text: str, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        parse_manifest(text)


def test_duplicate_entries_are_refused(pristine: Path) -> None:
    m = read_manifest(pristine)
    m["artifacts"].append(m["artifacts"][0])
    with pytest.raises(ArtifactError, match="appears twice"):
        parse_manifest(json.dumps(m))


def test_file_record_without_size() -> None:
    f = FileRecord.from_dict({"path": "a", "sha256": "0" * 64}, "entry x")
    assert f.size is None and "size" not in f.to_dict()
    assert Manifest().entries == ()
