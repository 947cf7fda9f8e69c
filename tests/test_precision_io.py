"""Reduced precision at the edges: calibration files, the CLI, the manifest, serving, parity DIR
and bench. The conversions and their gate are tests/test_precision.py."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from chanattn_export import api
from chanattn_export.errors import ArtifactError, InputError, InvalidSpecError

SMALL = {"channels": 16, "height": 16, "width": 16}


def _cli(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chanattn_export", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


# -- calibration files ------------------------------------------------------------------------
def _batches() -> list[np.ndarray]:
    """Data like the cases the int8 gate judges: noise, a constant and all-negative inputs."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 16, 16))
    return [a.astype(np.float32) for a in (x, np.full_like(x, 0.75), -np.abs(x) - 0.1)]


def test_npy_folder_and_polygraphy_json_give_the_same_data_and_digest(tmp_path) -> None:
    from polygraphy.json import save_json

    from chanattn_export.export.calibration import load_calibration

    batches = _batches()
    folder = tmp_path / "npy"
    folder.mkdir()
    for i, b in enumerate(batches):
        np.save(folder / f"{i:03d}.npy", b)
    np.save(folder / "999.npy", batches[0][0])  # one sample [C, H, W] is a batch of 1
    save_json([{"input": b} for b in [*batches, batches[0][:1]]], tmp_path / "inputs.json")
    a, b = load_calibration(folder), load_calibration(tmp_path / "inputs.json")
    assert a.samples == b.samples == 7
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert all(np.array_equal(x, y) for x, y in zip(a.batches, b.batches, strict=True))


@pytest.mark.parametrize("bad, message", [
    (np.array([object()], dtype=object), "not a plain .npy array"),
    (np.zeros((2, 2), np.float32), "one sample"),
    (np.zeros((1, 16, 16, 16), np.int64), "not floats"),
    (np.full((1, 16, 16, 16), np.nan, np.float32), "NaN or Inf"),
])
def test_bad_calibration_arrays_are_refused_in_one_line(tmp_path, bad, message) -> None:
    from chanattn_export.export.calibration import load_calibration

    folder = tmp_path / "cal"
    folder.mkdir()
    np.save(folder / "a.npy", bad, allow_pickle=bad.dtype == object)
    with pytest.raises(InvalidSpecError, match=message):
        load_calibration(folder)


def test_calibration_that_does_not_fit_the_model_is_refused_before_export(tmp_path) -> None:
    folder = tmp_path / "cal"
    folder.mkdir()
    np.save(folder / "a.npy", np.zeros((1, 8, 16, 16), np.float32))  # 8 channels, not 16
    with pytest.raises(InvalidSpecError, match="does not fit the model"):
        api.export_onnx("se", precision="int8", calibration=folder, out=tmp_path / "o", **SMALL)
    assert not (tmp_path / "o").exists()


# -- CLI --------------------------------------------------------------------------------------
def test_cli_int8_with_user_calibration_and_bad_combinations(tmp_path) -> None:
    folder = tmp_path / "cal"
    folder.mkdir()
    for i, b in enumerate(_batches()):
        np.save(folder / f"{i}.npy", b)
    r = _cli("onnx", "--model", "eca", "--channels", "16", "--height", "16", "--width", "16",
             "--precision", "int8", "--calibration", str(folder), "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert "eca-nchw-c16-16x16-int8.onnx" in r.stdout and "warning: calibrating" not in r.stderr
    entry = json.loads((tmp_path / "a" / "manifest.json").read_text())["artifacts"][0]
    assert entry["conversion"]["calibration"]["source"] == str(folder)
    r = _cli("onnx", "--model", "eca", "--calibration", str(folder), "--out", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "fp16/int8" in r.stderr
    r = _cli("onnx", "--model", "eca", "--precision", "int8", "--fp16-io", "--out",
             str(tmp_path))
    assert r.returncode == 2 and "fp16 I/O is for precision fp16 only" in r.stderr


# -- manifest, serving, parity DIR ------------------------------------------------------------
@pytest.fixture(scope="module")
def reduced_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("reduced")
    api.export_onnx("eca", out=out, **SMALL)
    api.export_onnx("eca", precision="fp16", fp16_io=True, out=out, **SMALL)
    api.export_onnx("eca", precision="int8", out=out, **SMALL)
    return out


def test_three_precisions_live_side_by_side(reduced_folder) -> None:
    names = sorted(e["path"] for e in json.loads(
        (reduced_folder / "manifest.json").read_text())["artifacts"])
    assert names == ["eca-nchw-c16-16x16-fp16.onnx", "eca-nchw-c16-16x16-int8.onnx",
                     "eca-nchw-c16-16x16.onnx"]


def test_serving_runs_fp16_and_int8_with_the_right_input_dtype(reduced_folder) -> None:
    from chanattn_export.serving import load_artifact

    x = np.random.default_rng(0).standard_normal((3, 16, 16, 16)).astype(np.float32)
    ref = load_artifact(reduced_folder, "eca-nchw-c16-16x16.onnx").run(x)
    half = load_artifact(reduced_folder, "eca-nchw-c16-16x16-fp16.onnx")
    assert half.precision == "fp16" and half.input.dtype == "float16"
    y = half.run(x.astype(np.float16))
    assert y.dtype == np.float16 and np.allclose(y, ref, atol=2e-2, rtol=1e-2)
    with pytest.raises(InputError, match=r"must be float16.*astype\(np.float16\)"):
        half.run(x)
    q = load_artifact(reduced_folder, "eca-nchw-c16-16x16-int8.onnx")
    assert q.precision == "int8" and q.input.dtype == "float32"
    from chanattn_export.check.measures import sqnr_db

    assert sqnr_db(ref, q.run(x)) >= 30
    with pytest.raises(InputError, match="float32"):
        q.run(x.astype(np.float16))


def test_a_manifest_lying_about_the_input_dtype_is_refused(reduced_folder, tmp_path) -> None:
    import shutil

    from chanattn_export.serving import load_artifact

    folder = tmp_path / "f"
    shutil.copytree(reduced_folder, folder)
    doc = json.loads((folder / "manifest.json").read_text())
    for e in doc["artifacts"]:
        for t in e["inputs"]:
            t["dtype"] = "float32"
    (folder / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="input has type float16, the manifest says float32"):
        load_artifact(folder, "eca-nchw-c16-16x16-fp16.onnx")


def test_old_manifests_are_fp32_and_a_bad_conversion_record_is_refused() -> None:
    from chanattn_export.artifacts.conversion import conversion_field, precision_of
    from chanattn_export.spec import Precision

    assert precision_of(conversion_field({}, "e")) is Precision.FP32
    for bad in ({"precision": "fp64"}, {"precision": "fp32"}, "int8",
                {"precision": "int8", "calibration": {"sha256": "xyz"}},
                {"precision": "int8", "calibration": {"sha256": "a" * 64,
                                                      "input_range": [0, "1"]}}):
        with pytest.raises(ArtifactError, match="conversion"):
            conversion_field({"conversion": bad}, "entry x")


def test_parity_dir_and_verify_rejudge_each_precision_at_its_own_bound(reduced_folder) -> None:
    from chanattn_export.check.verify import verify_folder

    checks = api.check_parity(reduced_folder)
    by = {c.entry.path: c for c in checks}
    assert all(c.ok for c in checks)
    assert by["eca-nchw-c16-16x16-fp16.onnx"].parity.tolerance.atol == 3e-2
    assert (by["eca-nchw-c16-16x16-int8.onnx"].parity.gate or {}).get("bound") == "sqnr"
    assert by["eca-nchw-c16-16x16.onnx"].parity.tolerance.atol == 1e-5
    assert verify_folder(reduced_folder) == []


def test_inspect_shows_the_precision(reduced_folder) -> None:
    r = _cli("inspect", str(reduced_folder))
    assert r.returncode == 0, r.stderr
    assert "precision   fp16 (onnxconverter-common" in r.stdout
    assert "precision   int8 (onnxruntime.quantization" in r.stdout
    assert "precision   fp32" in r.stdout


# -- bench ------------------------------------------------------------------------------------
def test_bench_plans_precisions_for_onnxruntime_only_and_labels_them() -> None:
    from chanattn_export.bench.config import BenchConfig, plan
    from chanattn_export.bench.records import BenchResult

    cfg = BenchConfig(models=("se",), backends=("eager", "onnxruntime"), batch_sizes=(8,),
                      precisions=("fp32", "int8", "fp16"))
    assert [(str(c.backend), str(c.precision)) for c in plan(cfg)] == [
        ("eager", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
        ("onnxruntime", "fp16")]
    r = BenchResult("se", "onnxruntime", "cpu", "float32", 8, 2, 64, 56, 56, "nchw",
                    precision="int8")
    assert r.label == "onnxruntime:int8" and r.key[1] == "onnxruntime:int8"
    old = BenchResult.from_dict({k: v for k, v in r.to_dict().items() if k != "precision"})
    assert old.precision == "fp32" and old.label == "onnxruntime"


def test_int8_tables_show_sqnr_of_judged_cases_and_fail_lines_name_the_measure() -> None:
    from chanattn_export.check.parity import compare
    from chanattn_export.check.reduced import judge_reduced
    from chanattn_export.render.parity import failure_lines, parity_table
    from chanattn_export.spec import Precision

    rng = np.random.default_rng(0)
    e = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    good = e + 0.001 * rng.standard_normal(e.shape).astype(np.float32)  # ~60 dB
    bad = e + 0.1 * rng.standard_normal(e.shape).astype(np.float32)  # ~20 dB
    xs = [e, e * 100]  # the second lies outside the calibrated range
    diffs = [compare("onnxruntime-cpu", "random", e, good), compare("onnxruntime-cpu",
                                                                      "large", e, bad)]
    rep = judge_reduced(Precision.INT8, diffs, xs, input_range=(-5.0, 5.0))
    assert rep.passed and [c.judged for c in rep.checks] == [True, False]
    row = parity_table([("m-int8.onnx", rep)]).splitlines()[2]
    assert "SQNR 59.6dB" in row and "random 2x4x3x3" in row and row.endswith("PASS")
    rep = judge_reduced(Precision.INT8, diffs[::-1], xs[:1] * 2, input_range=(-5.0, 5.0))
    assert not rep.passed
    (line,) = failure_lines("m-int8.onnx", rep)
    assert "input=large" in line and "dB < 30 dB" in line


def test_a_deployment_host_verifies_fp16_and_int8_and_says_what_it_could_not_run(
        tmp_path_factory) -> None:
    """numpy + onnxruntime only (no torch, no onnx): both files are judged against their stored
    evidence through onnxruntime; the float16 reference, which needs onnx, is named as not run."""
    from torchless import make_world_readable_base, run_torchless

    base = make_world_readable_base(tmp_path_factory.mktemp("host"))
    tiny = {"channels": 8, "height": 8, "width": 8}
    api.export_onnx("eca", precision="fp16", out=base / "art", **tiny)
    api.export_onnx("eca", precision="int8", out=base / "art", **tiny)
    p = run_torchless(["-m", "chanattn_export", "verify", "art"], base)
    assert p.returncode == 0, p.stdout + p.stderr[-2000:]
    assert "onnx-reference-fp16 not run: it needs onnx" in p.stdout
    assert "error" not in p.stdout.lower().replace("no errors", "")
