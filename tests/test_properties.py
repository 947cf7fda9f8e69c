"""Property-based: random valid specs export with parity; random invalid ones raise our error
and write nothing."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chanattn_export import ChanAttnError, api
from chanattn_export.check.verify import verify_folder
from chanattn_export.registry import list_models

MODELS = {m.name: m for m in list_models()}


@st.composite
def valid_specs(draw) -> dict:
    name = draw(st.sampled_from(sorted(MODELS)))
    channels = draw(st.integers(2, 16))
    spec = {
        "model": name,
        "channels": channels,
        "layout": draw(st.sampled_from(["nchw", "nhwc"])),
        "height": draw(st.integers(1, 10)),
        "width": draw(st.integers(1, 10)),
        "batch": draw(st.integers(1, 3)),
        "dynamic_hw": draw(st.booleans()) and not MODELS[name].fixed_hw,
    }
    if MODELS[name].uses_ratio:
        spec["ratio"] = draw(st.integers(1, channels))
    return spec


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_specs(), fmt=st.sampled_from(["onnx", "torchscript"]))
def test_every_valid_export_passes_parity(spec: dict, fmt: str) -> None:
    export = api.export_onnx if fmt == "onnx" else api.export_torchscript
    with tempfile.TemporaryDirectory() as d:
        res = export(out=Path(d) / "art", **spec)
        assert res.passed, res.parity.failures
        problems = verify_folder(Path(d) / "art", trust_torchscript=True)
        # a parameter-free block at 1 x 1 (simam) is a fixed gate: its check is marked VACUOUS,
        # a warning; nothing else may be said of a valid export
        assert [p for p in problems
                if p.severity != "warning" or "proves nothing" not in p.message] == []


BAD_VALUES = {
    "model": st.sampled_from(["", "cbam_chanel", "SE ", "nope"]),
    "channels": st.one_of(st.integers(-5, 0), st.just(1 << 17), st.just(8.5), st.just(True),
                          st.just("8"), st.just(math.nan)),
    "ratio": st.one_of(st.integers(-3, 0), st.integers(17, 40), st.just(2.5)),
    "layout": st.sampled_from(["nhcw", "", "NCHW8"]),
    "height": st.one_of(st.integers(-3, 0), st.just(10**6)),
    "width": st.one_of(st.integers(-3, 0), st.just(1.5)),
    "batch": st.one_of(st.integers(-3, 0), st.just(5000)),
    "opset": st.one_of(st.integers(0, 6), st.just(100)),
    "exporter": st.sampled_from(["torchscript", "fast"]),
    "atol": st.one_of(st.just(-1.0), st.just(math.inf), st.just(math.nan)),
}


@st.composite
def invalid_specs(draw) -> tuple[str, dict]:
    field = draw(st.sampled_from(sorted(BAD_VALUES)))
    spec = {"model": "se", "channels": 16, "ratio": 4, "height": 8, "width": 8}
    spec[field] = draw(BAD_VALUES[field])
    fmt = "onnx" if field in ("opset", "exporter") else draw(st.sampled_from(["onnx", "ts"]))
    return fmt, spec


@settings(max_examples=40, deadline=None)
@given(case=invalid_specs())
def test_every_invalid_spec_raises_our_error_and_writes_nothing(case) -> None:
    fmt, spec = case
    export = api.export_onnx if fmt == "onnx" else api.export_torchscript
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "art"
        try:
            export(out=out, **spec)
        except ChanAttnError:
            pass
        else:
            raise AssertionError(f"accepted invalid spec {spec}")
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
