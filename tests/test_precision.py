"""fp16 and int8 artifacts: converted, judged on the same cases at their own bounds, recorded.

Every test here can fail: the planted overflow is caught only while the gate runs the
float16 reference, the large case passes only while summing reductions (and the Cast pairs
the converter leaves between float32 nodes) stay float32, and a refused int8 file names the
measure that failed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from chanattn_export import api
from chanattn_export.check.cases import make_cases
from chanattn_export.check.measures import clipped_fraction, cosine, sqnr_db, top1_agreement
from chanattn_export.check.parity import measure
from chanattn_export.check.reduced import FP16_TOLERANCE, Int8Gate, judge_reduced
from chanattn_export.errors import ParityError
from chanattn_export.export import export_bytes
from chanattn_export.registry import build_model, list_models, make_spec
from chanattn_export.runtime import EagerRunner
from chanattn_export.runtime.reduced import REFERENCE_FP16, reduced_runners
from chanattn_export.spec import ExportSpec, InputSpec, Precision

SMALL = {"channels": 16, "height": 16, "width": 16}


def _entry(out, name: str) -> dict:
    doc = json.loads((out / "manifest.json").read_text())
    return next(e for e in doc["artifacts"] if e["path"] == name)


# -- measures ---------------------------------------------------------------------------------
def test_sqnr_cosine_and_top1_have_their_textbook_values() -> None:
    rng = np.random.default_rng(0)
    e = rng.standard_normal(10_000)
    noise = rng.standard_normal(10_000)
    noise *= 0.1 * np.linalg.norm(e) / np.linalg.norm(noise)  # noise power = 1% of signal
    assert sqnr_db(e, e + noise) == pytest.approx(20.0, abs=1e-9)
    assert sqnr_db(e, e) == np.inf
    assert sqnr_db(e, np.full_like(e, np.nan)) == -np.inf
    assert cosine(e, 3 * e) == pytest.approx(1.0) and cosine(e, -e) == pytest.approx(-1.0)
    logits = rng.standard_normal((4, 5))
    flipped = logits.copy()
    flipped[0] = -flipped[0]
    assert top1_agreement([logits], [logits]) == 1.0
    assert top1_agreement([logits], [flipped]) == 0.75
    assert clipped_fraction(np.array([-2.0, 0.0, 1.0, 3.0]), -1.0, 2.0) == 0.5


# -- fp16 -------------------------------------------------------------------------------------
def test_fp16_export_is_float16_passes_the_large_case_and_records_how(tmp_path) -> None:
    import onnx

    res = api.export_onnx("simam", precision="fp16", out=tmp_path, **SMALL)
    assert res.passed and res.written and res.path.name.endswith("-16x16-fp16.onnx")
    model = onnx.load(res.path)
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # f32 I/O
    backends = {c.backend for c in res.parity.checks}
    assert backends == {"onnxruntime-cpu", REFERENCE_FP16}
    large = [c for c in res.parity.checks if c.case == "large"]
    assert large and all(c.passed for c in large)
    assert res.parity.tolerance == FP16_TOLERANCE
    conv = _entry(tmp_path, res.path.name)["conversion"]
    assert conv["precision"] == "fp16" and conv["tool"] == "onnxconverter-common"
    assert conv["tool_version"] and len(conv["calibration"]["sha256"]) == 64
    assert "ReduceSum" in conv["recipe"]["float32_ops"]
    assert conv["recipe"]["float32_nodes"]  # (x - mean)^2 at inputs ~1e2 leaves float16's range


def _judged(spec: ExportSpec, net, data: bytes):
    cases = make_cases(spec.model, spec.input)
    diffs = measure(EagerRunner(net), reduced_runners(Precision.FP16, data, None), cases)
    return judge_reduced(Precision.FP16, diffs, [c.x for c in cases])


def test_a_reduction_forced_to_fp16_overflows_and_the_gate_catches_it() -> None:
    """The planted bug: ReduceMean converted to float16. A float16 runtime may accumulate the
    H x W sum in float16 (the spec allows it) and the saturate case's per-channel offsets of
    30 pass 65504; onnxruntime's CPU provider hides it (its Casts run the sum in float32), the
    float16 reference does not."""
    from chanattn_export.export.fp16 import to_fp16

    spec = ExportSpec(make_spec("se", 64), InputSpec(1, 56, 56))
    net = build_model(spec.model, seed=0)
    data = export_bytes(net, spec).data
    planted, _ = to_fp16(data, [], keep_ops=())
    report = _judged(spec, net, planted)
    assert not report.passed
    failed = {(c.backend, c.case) for c in report.failures}
    assert (REFERENCE_FP16, "saturate") in failed
    assert all(b == REFERENCE_FP16 for b, _ in failed)  # onnxruntime-cpu alone passes it
    kept, recipe = to_fp16(data, [])
    assert recipe["float32_ops"] == ["ReduceMean"]
    assert _judged(spec, net, kept).passed


def test_a_failing_fp16_file_is_kept_out_of_the_folder(tmp_path, monkeypatch) -> None:
    import chanattn_export.export.fp16 as fp16

    real = fp16.to_fp16
    monkeypatch.setattr(fp16, "to_fp16", lambda data, batches, **kw: real(
        data, batches, **{**kw, "keep_ops": ()}))  # every reduction in float16
    res = api.export_onnx("se", precision="fp16", out=tmp_path, channels=64)
    assert not res.passed and not res.written
    assert not res.path.exists() and not (tmp_path / "manifest.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("model", [m.name for m in list_models()])
def test_every_block_passes_at_fp16_large_case_included(model, tmp_path) -> None:
    res = api.export_onnx(model, precision="fp16", out=tmp_path, **SMALL)
    assert res.passed, res.parity.failures[:2]
    assert {c.case for c in res.parity.checks} >= {"large", "saturate"}


# -- int8 -------------------------------------------------------------------------------------
def test_int8_export_is_quantized_judged_by_sqnr_and_records_its_recipe(tmp_path) -> None:
    import onnx

    res = api.export_onnx("se", precision="int8", out=tmp_path, channels=64)
    assert res.passed and res.path.name.endswith("-56x56-int8.onnx")
    ops = {n.op_type for n in onnx.load(res.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    judged = [c for c in res.parity.checks if c.judged]
    assert {c.case for c in judged} == {"random", "constant", "negative"}
    assert all(c.sqnr_db >= 30 and c.cosine >= 0.999 for c in judged)
    outside = [c for c in res.parity.checks if not c.judged]
    assert {c.case for c in outside} == {"large", "saturate"}
    assert all("outside the calibrated range" in c.why for c in outside)
    conv = _entry(tmp_path, res.path.name)["conversion"]
    assert conv["tool"] == "onnxruntime.quantization"
    assert conv["recipe"]["recipe"] in ("quantize", "gate-float", "gate-pinned")
    assert set(conv["recipe_scores"]) == {"quantize", "gate-float", "gate-pinned"}
    assert conv["recipe"]["quantized_ops"]["Gemm"] == 2
    assert conv["measures"]["worst_sqnr_db"] >= 30


def test_an_int8_file_below_the_gate_is_refused_naming_the_measure(tmp_path) -> None:
    from chanattn_export.pipeline import export_artifact
    from chanattn_export.pipeline.precision import ReducedOptions

    spec = api.make_export_spec("se", channels=64, precision="int8")
    res = export_artifact(spec, tmp_path, reduced=ReducedOptions(gate=Int8Gate(200.0)))
    assert not res.passed and not res.written
    assert "SQNR" in res.parity.failures[0].why and "< 200 dB" in res.parity.failures[0].why
    with pytest.raises(ParityError, match=r"SQNR .* < 200 dB"):
        res.raise_for_status()


def test_a_class_output_is_judged_by_top1_on_the_calibration_data(tmp_path) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "examples"))
    from se_resnet18 import tiny

    res = api.export_onnx(tiny(), input_shape=(2, 3, 32, 32), name="tiny", precision="int8",
                          out=tmp_path)
    top1 = [c for c in res.parity.checks if c.case == "calibration top-1"]
    assert len(top1) == 1 and top1[0].shape == (18, 10)
    assert res.parity.gate["top1_agreement"] >= 0.99 and res.passed
    measures = _entry(tmp_path, res.path.name)["conversion"]["measures"]
    assert measures["top1_agreement"] == res.parity.gate["top1_agreement"]


@pytest.mark.slow
@pytest.mark.parametrize("model", [m.name for m in list_models()])
def test_every_block_exports_at_int8_or_is_refused_with_its_measure(model, tmp_path) -> None:
    res = api.export_onnx(model, precision="int8", out=tmp_path, **SMALL)
    if not res.passed:
        assert res.parity.failures and all(c.why for c in res.parity.failures)
    assert res.written == res.passed


def test_converter_failures_are_one_line_toolkit_errors() -> None:
    from chanattn_export.errors import ExportError, InvalidSpecError
    from chanattn_export.export.int8 import to_int8

    x = np.zeros((1, 16, 4, 4), np.float32)
    with pytest.raises(ExportError, match="int8 quantization failed: ") as e:
        to_int8(b"not an onnx file", [x], recipe="quantize")
    assert "\n" not in str(e.value)
    with pytest.raises(InvalidSpecError, match="recipe must be one of"):
        to_int8(b"", [x], recipe="int4")
