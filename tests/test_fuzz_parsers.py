"""Hypothesis fuzzing of the parsers that read untrusted bytes: the manifest
(text and entries), the weights (safetensors bytes), and the CLI on fuzzed manifests. Any input
gives the toolkit's one-line error, never another exception."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chanattn_export.artifacts import ManifestEntry, parse_manifest
from chanattn_export.errors import ArtifactError, WeightsError

FIELDS = ["path", "sha256", "format", "model", "input", "files", "weights", "parity", "status",
          "opset", "size", "role", "name", "channels", "ratio", "layout", "batch", "height",
          "width", "dynamic_hw", "manifest_version", "artifacts", "pending"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["onnx", "torchscript", "nchw", "se",
                                                           "a" * 64, "x.onnx"]))
values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.sampled_from(FIELDS), kids, max_size=6)),
    max_leaves=25)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _one_line(e: Exception) -> None:
    assert str(e) and "\n" not in str(e)


@SETTINGS
@given(st.binary(max_size=300))
def test_manifest_bytes(data: bytes) -> None:
    try:
        parse_manifest(data.decode("utf-8", errors="replace"))
    except ArtifactError as e:
        _one_line(e)


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=10))
def test_manifest_entries(d: dict) -> None:
    try:
        ManifestEntry.from_dict(d, 0)
    except ArtifactError as e:
        _one_line(e)
    try:
        parse_manifest(json.dumps({"manifest_version": 1, "artifacts": [d], "pending": [d]}))
    except ArtifactError as e:
        _one_line(e)


@SETTINGS
@given(st.one_of(st.binary(max_size=200),
                 st.builds(lambda h, tail: struct.pack("<Q", len(h)) + h + tail,
                           st.text(max_size=120).map(str.encode), st.binary(max_size=64)),
                 st.builds(lambda d, tail: (lambda h: struct.pack("<Q", len(h)) + h + tail)(
                     json.dumps(d).encode()),
                     st.dictionaries(st.text(max_size=5), values, max_size=3),
                     st.binary(max_size=64))))
def test_weights_bytes(data: bytes) -> None:
    from chanattn_export.models.weights import load_safetensors_bytes

    try:
        load_safetensors_bytes(data)
    except WeightsError as e:
        _one_line(e)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=8))
def test_cli_on_fuzzed_manifests(tmp_path: Path, d: dict) -> None:
    from chanattn_export.cli import main

    (tmp_path / "manifest.json").write_text(
        json.dumps({"manifest_version": 1, "artifacts": [d]}))
    assert main(["verify", str(tmp_path)]) in (1, 2)
    assert main(["parity", str(tmp_path)]) in (1, 2)
