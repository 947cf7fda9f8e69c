"""Behaviour of the bench package: statistics, selection logic, records, files, CLI errors.

No timing assertions: the numbers themselves are machine-dependent; what is tested is that the
right things are computed, recorded and written.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from chanattn_export.bench import session
from chanattn_export.bench.compare import compare
from chanattn_export.bench.records import (
    BenchResult,
    ResultsFileError,
    read_json,
    write_csv,
    write_json,
)
from chanattn_export.bench.roofline import (
    Bandwidth,
    _parse_size,
    bytes_moved,
    copy_bytes_for,
    floor_ms,
)
from chanattn_export.bench.sweep import (
    Backend,
    BenchConfig,
    Device,
    DType,
    ModelArtifacts,
    make_result,
    plan,
    resolve_devices,
    rotation_buffers,
)
from chanattn_export.bench.timing import summarize, time_calls
from chanattn_export.cli import main
from chanattn_export.errors import InvalidSpecError, MissingDependencyError

REQUIRED = ["model", "backend", "device", "dtype", "batch_size", "threads", "median_ms",
            "iqr_ms", "images_per_s", "gb_per_s", "x_floor"]


# -- timing -------------------------------------------------------------------------------------
def test_summarize_known_samples() -> None:
    st = summarize([0.001, 0.002, 0.003, 0.004, 0.100])  # one outlier
    assert st.n == 5
    assert st.median_ms == pytest.approx(3.0)
    assert st.q1_ms == pytest.approx(2.0) and st.q3_ms == pytest.approx(4.0)
    assert st.iqr_ms == pytest.approx(2.0)
    assert st.mean_ms == pytest.approx(22.0)  # the mean is dragged by the outlier...
    assert st.min_ms == pytest.approx(1.0) and st.max_ms == pytest.approx(100.0)


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError):
        summarize([])


def test_time_calls_discards_warmup_and_keeps_every_sample() -> None:
    calls, syncs = [], []
    ticks = iter(range(1000))
    samples = time_calls(lambda: calls.append(1), warmup=3, repeats=5,
                         sync=lambda: syncs.append(1), clock=lambda: float(next(ticks)))
    assert len(calls) == 8 and len(samples) == 5
    assert samples == [1.0] * 5  # fake clock: one tick per read
    assert len(syncs) == 6  # once before timing, once inside each timed call


# -- roofline -----------------------------------------------------------------------------------
def test_bytes_moved_applied_and_gate() -> None:
    shape = (8, 64, 56, 56)
    x = 8 * 64 * 56 * 56 * 4
    assert bytes_moved("applied", shape, 64, 4) == 2 * x
    assert bytes_moved("gate", shape, 64, 4) == x + 8 * 64 * 4
    assert bytes_moved("applied", shape, 64, 2) == x  # float16 halves the traffic
    with pytest.raises(ValueError):
        bytes_moved("weird", shape, 64, 4)


def test_floor_and_copy_size() -> None:
    assert floor_ms(10**9, 10.0) == pytest.approx(100.0)
    assert copy_bytes_for(None) == 256 << 20
    assert copy_bytes_for(200 << 20) == 400 << 20
    assert copy_bytes_for(4 << 30) == 1 << 30
    assert _parse_size("32768K") == 32 << 20


# -- selection logic (no CUDA needed) -----------------------------------------------------------
def test_devices_default_and_cuda_selection() -> None:
    assert resolve_devices(None, has_cuda=False) == (Device.CPU,)
    assert resolve_devices(None, has_cuda=True) == (Device.CPU, Device.CUDA)
    assert resolve_devices(["cuda", "cpu", "cuda"], has_cuda=True) == (Device.CUDA, Device.CPU)
    with pytest.raises(MissingDependencyError, match="no CUDA"):
        resolve_devices(["cuda"], has_cuda=False)
    with pytest.raises(InvalidSpecError, match="device must be one of"):
        resolve_devices(["tpu"], has_cuda=False)


def test_float16_only_on_cuda() -> None:
    with pytest.raises(InvalidSpecError, match="float16 runs on CUDA only"):
        session.make_config(models="se", dtype="float16", has_cuda=False)
    cfg = session.make_config(models="se", dtype="float16", has_cuda=True)
    assert cfg.devices == (Device.CUDA,) and cfg.dtype is DType.FLOAT16


def test_config_defaults_quick_and_validation() -> None:
    cfg = session.make_config(has_cuda=False)
    assert cfg.backends == (Backend.EAGER, Backend.TORCHSCRIPT, Backend.ONNXRUNTIME)
    assert cfg.batch_sizes == (1, 8, 32) and cfg.threads >= 1 and len(cfg.models) >= 4
    quick = session.make_config(quick=True, has_cuda=False)
    assert quick.models == ("cbam-channel",) and quick.batch_sizes == (1, 8)
    assert Backend.COMPILE in session.make_config(backends="all", has_cuda=False).backends
    with pytest.raises(InvalidSpecError, match="batch sizes must be integers"):
        session.make_config(batch_sizes="1,x", has_cuda=False)
    with pytest.raises(InvalidSpecError, match="batch size must be in"):
        session.make_config(batch_sizes="0", has_cuda=False)
    with pytest.raises(InvalidSpecError, match="backend must be one of"):
        session.make_config(backends="tensorrt", has_cuda=False)
    with pytest.raises(InvalidSpecError, match="repeats"):
        session.make_config(repeats=1, has_cuda=False)
    with pytest.raises(InvalidSpecError, match="did you mean"):
        session.make_config(models="cbam-chanel", has_cuda=False)


def test_plan_keeps_each_backend_contiguous() -> None:
    cfg = BenchConfig(models=("se", "eca"), backends=("eager", "onnxruntime"),
                      batch_sizes=(1, 8))
    order = [(m, str(b)) for m, b, _, _ in plan(cfg)]
    runs = [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k]
    assert runs == [("se", "eager"), ("se", "onnxruntime"), ("eca", "eager"),
                    ("eca", "onnxruntime")]


def test_rotation_buffers_exceed_cache() -> None:
    assert rotation_buffers(1 << 20, 32 << 20, rotate=False) == 1
    n = rotation_buffers(1 << 20, 32 << 20, rotate=True)
    assert n * (1 << 20) >= 2 * (32 << 20)
    assert rotation_buffers(512 << 20, 32 << 20, rotate=True) == 2


# -- records ------------------------------------------------------------------------------------
def _result(backend: str = "eager", median_s: float = 0.002, batch: int = 8) -> BenchResult:
    cfg = BenchConfig(models=("cbam-channel",), threads=2)
    art = ModelArtifacts("cbam-channel", 64, 56, 56, cfg.layout, "applied")
    samples = [median_s * f for f in (0.9, 1.0, 1.0, 1.1, 3.0)]
    return make_result(cfg, art, Backend(backend), Device.CPU, batch, samples,
                       Bandwidth("cpu", 10.0, 1 << 28, 1.0, 0.1))


def test_make_result_has_every_field() -> None:
    r = _result()
    d = r.to_dict()
    for k in REQUIRED:
        assert d[k] is not None, k
    assert r.median_ms == pytest.approx(2.0)
    assert r.images_per_s == pytest.approx(8 / 0.002)
    x = 8 * 64 * 56 * 56 * 4
    assert r.bytes_moved == 2 * x
    assert r.gb_per_s == pytest.approx(2 * x / 0.002 / 1e9)
    assert r.x_floor == pytest.approx(2.0 / (2 * x / 10e9 * 1e3))
    assert len(r.samples_ms) == 5 and r.threads == 2


def test_json_csv_roundtrip(tmp_path: Path) -> None:
    rs = [_result("eager"), _result("onnxruntime", 0.001)]
    p = write_json(tmp_path / "r.json", {"cpu_model": "x"}, rs)
    doc = json.loads(p.read_text())
    assert set(doc) >= {"machine", "results"} and len(doc["results"]) == 2
    machine, back = read_json(p)
    assert machine == {"cpu_model": "x"} and back[1].median_ms == pytest.approx(1.0)
    c = write_csv(tmp_path / "r.csv", rs)
    rows = list(csv.DictReader(c.open()))
    assert len(rows) == 2 and set(REQUIRED) <= set(rows[0])
    assert float(rows[0]["median_ms"]) == pytest.approx(2.0)


def test_read_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="no such results file"):
        read_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsFileError, match="not a JSON results file"):
        read_json(bad)
    bad.write_text('{"results": 3}')
    with pytest.raises(ResultsFileError, match="expected"):
        read_json(bad)


def test_compare_ratios() -> None:
    a = [_result("eager", 0.002), _result("onnxruntime", 0.001), _result("torchscript")]
    b = [_result("eager", 0.001), _result("onnxruntime", 0.002), _result("eager", 0.001, 1)]
    c = compare(a, b)
    by = {r.key[1]: r for r in c.ratios}
    assert by["eager"].speedup == pytest.approx(2.0)
    assert by["onnxruntime"].time_ratio == pytest.approx(2.0)
    assert c.geomean_speedup == pytest.approx(1.0)
    assert [k[1] for k in c.only_a] == ["torchscript"] and [k[4] for k in c.only_b] == [1]


def test_plot_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from chanattn_export.bench.plot import plot_throughput

    rs = [_result(b, 0.001 * n, n) for b in ("eager", "onnxruntime") for n in (1, 8, 32)]
    p = plot_throughput(rs, tmp_path / "p.png", "title")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_optional_dependency_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'chanattn_export\[bench\]'"):
        session.check_output_deps(progress=True, plot=False)
    assert main(["bench", "--quick", "--models", "se"]) == 2


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_json(tmp_path / "a.json", {}, [_result("eager", 0.002)])
    write_json(tmp_path / "b.json", {}, [_result("eager", 0.001)])
    assert main(["bench", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "2.00x" in out and "0.50" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--batch-sizes", "0"], "batch size must be in"),
    (["--backends", "tensorrt"], "backend must be one of"),
    (["--devices", "cuda"], "cuda"),
    (["--models", "nope"], "unknown model"),
    (["--threads", "0"], "threads must be in"),
    (["--stretches", "0"], "stretches must be in"),
    (["--compare", "missing-a.json", "missing-b.json"], "no such results file"),
])
def test_cli_bad_options_one_line_exit_2(argv: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chanattn_export.runtime.devices.cuda_available", lambda: False)
    assert main(["bench", "--no-progress", "--no-plot", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_cli_quick_run_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny end-to-end run: every backend, real export, JSON/CSV/PNG written."""
    from chanattn_export.bench import roofline

    small = roofline.measure_bandwidth
    monkeypatch.setattr(session, "measure_bandwidth",
                        lambda d, repeats=3: small(d, nbytes=8 << 20, repeats=repeats))
    code = main(["bench", "--quick", "--no-progress", "--models", "eca", "--batch-sizes", "2",
                 "--warmup", "1", "--repeats", "3", "--threads", "1", "--out",
                 str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "x_floor" in out and "threads 1" in out
    machine, rs = read_json(tmp_path / "bench.json")
    assert {r.backend for r in rs} == {"eager", "torchscript", "onnxruntime"}
    for r in rs:
        assert r.skipped is None and r.threads == 1 and r.n_samples == 3
        assert all(getattr(r, k) is not None for k in REQUIRED)
        assert math.isfinite(r.x_floor or math.nan)
    assert machine["versions"]["onnxruntime"] and machine["bandwidth"]["cpu"]["gb_per_s"] > 0
    assert machine["rotate_inputs"] is False
    assert (tmp_path / "bench.csv").stat().st_size > 0
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isfinite([r.median_ms for r in rs]).all()


def test_cuda_backend_without_cuda_is_a_skip_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from chanattn_export.bench.sweep import BackendHandle, SkipCase

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    art = ModelArtifacts.build("eca")
    with pytest.raises(SkipCase, match="no CUDA device"):
        BackendHandle(art, Backend.EAGER, Device.CUDA, DType.FLOAT32, 1)
    cfg = BenchConfig(models=("eca",), devices=("cuda",), batch_sizes=(1,), threads=1)
    from chanattn_export.bench.sweep import run_sweep

    rs = run_sweep(cfg, {})
    assert len(rs) == 3 and all(r.skipped == "no CUDA device" for r in rs)


def test_float16_onnx_conversion_runs() -> None:
    """The CUDA float16 path converts the exported file; check the conversion on CPU."""
    import onnxruntime as ort

    from chanattn_export.bench.sweep import to_float16
    from chanattn_export.spec import Format

    art = ModelArtifacts.build("se", height=8, width=8)
    sess = ort.InferenceSession(to_float16(art.file(Format.ONNX)),
                                providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 64, 8, 8)).astype(np.float16)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert y.dtype == np.float16 and y.shape == x.shape


def test_stretches_pool_samples_from_fresh_buffers() -> None:
    from chanattn_export.bench.sweep import run_sweep

    cfg = BenchConfig(models=("eca",), backends=("eager",), batch_sizes=(2,), threads=1,
                      warmup=1, repeats=4, stretches=2, settle_s=0.0, height=8, width=8)
    (r,) = run_sweep(cfg, {})
    assert r.n_samples == 8 and len(r.samples_ms) == 8 and len(r.stretch_medians_ms) == 2
    assert r.x_floor is None  # no bandwidth measured: no floor, and no made-up number
