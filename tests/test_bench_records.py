"""Records: numbers derived from raw samples, JSON/CSV files, comparisons between runs."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from bench_helpers import REQUIRED, result

from chanattn_export.bench.compare import compare
from chanattn_export.bench.config import BenchConfig, Case
from chanattn_export.bench.derive import make_result
from chanattn_export.bench.files import read_json, write_json
from chanattn_export.bench.records import ResultsFileError, write_csv
from chanattn_export.spec import Backend, Device


def test_make_result_has_every_field() -> None:
    r = result()
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
    assert r.error is None and r.skipped is None


def test_make_result_pools_stretches_and_keeps_their_medians() -> None:
    cfg = BenchConfig(models=("se",), threads=1)
    r = make_result(cfg, Case("se", Backend.EAGER, Device.CPU, 1), "applied",
                    [[0.001, 0.001, 0.001], [0.003, 0.003, 0.003]])
    assert r.n_samples == 6 and r.stretch_medians_ms == pytest.approx([1.0, 3.0])
    assert r.median_ms == pytest.approx(2.0)
    assert r.x_floor is None and r.floor_ms is None  # no bandwidth: no made-up floor


def test_x_copy_is_median_over_the_same_working_set_copy() -> None:
    cfg = BenchConfig(models=("se",), threads=1)
    case = Case("se", Backend.EAGER, Device.CPU, 1)
    r = make_result(cfg, case, "applied", [[0.003] * 3], copy_ms=0.5)
    assert r.copy_ms == pytest.approx(0.5) and r.x_copy == pytest.approx(6.0)
    assert make_result(cfg, case, "applied", [[0.003] * 3]).x_copy is None  # none measured
    skipped = make_result(cfg, case, "applied", skipped="no GPU", copy_ms=0.5)
    assert skipped.x_copy is None  # no samples: no ratio


def test_failed_case_record_keeps_its_error_and_no_numbers() -> None:
    cfg = BenchConfig(models=("se",), threads=1)
    r = make_result(cfg, Case("se", Backend.ONNXRUNTIME, Device.CPU, 8), "applied",
                    error="RuntimeError: boom")
    assert r.error == "RuntimeError: boom" and r.median_ms is None and r.n_samples == 0
    unknown = make_result(cfg, Case("nope", Backend.EAGER, Device.CPU, 8), "", error="x")
    assert unknown.bytes_moved is None and unknown.gb_per_s is None


def test_json_csv_roundtrip(tmp_path: Path) -> None:
    rs = [result("eager"), result("onnxruntime", 0.001)]
    p = write_json(tmp_path / "r.json", {"cpu_model": "x"}, rs)
    doc = json.loads(p.read_text())
    assert set(doc) >= {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    assert len(doc["benchmarks"]) == 2
    machine, back = read_json(p)
    assert machine == {"cpu_model": "x"} and back[1].median_ms == pytest.approx(1.0)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in rs]  # nothing lost
    c = write_csv(tmp_path / "r.csv", rs)
    rows = list(csv.DictReader(c.open()))
    assert len(rows) == 2 and set(REQUIRED) <= set(rows[0])
    assert float(rows[0]["median_ms"]) == pytest.approx(2.0)
    assert "error" in rows[0] and rows[0]["error"] == ""


def test_result_files_go_through_the_atomic_writer(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write leaves the previous file intact, no temp file, and the umask's mode."""
    p = write_json(tmp_path / "out" / "r.json", {}, [result()])  # parents are created
    before = p.read_bytes()
    assert p.stat().st_mode & 0o777 == 0o666 & ~_umask()

    def fail(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_json(p, {}, [result(), result("onnxruntime")])
    with pytest.raises(OSError, match="disk full"):
        write_csv(p.with_suffix(".csv"), [result()])
    assert p.read_bytes() == before
    assert sorted(f.name for f in p.parent.iterdir()) == ["r.json"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    a = [result("eager", 0.002), result("onnxruntime", 0.001), result("torchscript")]
    b = [result("eager", 0.001), result("onnxruntime", 0.002), result("eager", 0.001, 1)]
    c = compare(a, b)
    by = {r.key[1]: r for r in c.ratios}
    assert by["eager"].speedup == pytest.approx(2.0)
    assert by["onnxruntime"].time_ratio == pytest.approx(2.0)
    assert c.geomean_speedup == pytest.approx(1.0)
    assert [k[1] for k in c.only_a] == ["torchscript"] and [k[4] for k in c.only_b] == [1]


def test_percentiles_come_from_the_raw_samples() -> None:
    cfg = BenchConfig(models=("se",), threads=1)
    samples = [i / 1e3 for i in range(1, 101)]  # 1..100 ms
    r = make_result(cfg, Case("se", Backend.EAGER, Device.CPU, 1), "applied", [samples])
    assert r.p90_ms == pytest.approx(90.1) and r.p99_ms == pytest.approx(99.01)
    assert r.median_ms == pytest.approx(50.5) and r.max_ms == pytest.approx(100.0)


def test_json_is_pytest_benchmark_layout(tmp_path: Path) -> None:
    """Every stats field pytest-benchmark reads, in seconds, batch sizes as numbers, the run's
    timestamp and commit, and untimed cases kept out of ``benchmarks`` but not lost."""
    failed = make_result(BenchConfig(models=("se",), threads=1),
                         Case("se", Backend.ONNXRUNTIME, Device.CPU, 8), "applied",
                         error="RuntimeError: boom")
    p = write_json(tmp_path / "r.json", {"cpu_model": "x"}, [result(), failed],
                   commit={"id": "abc", "dirty": False})
    doc = json.loads(p.read_text())
    (b,) = doc["benchmarks"]
    for k in ("min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3",
              "iqr_outliers", "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops",
              "total", "data", "iterations"):
        assert k in b["stats"], k
    assert b["stats"]["median"] == pytest.approx(0.002) and len(b["stats"]["data"]) == 5
    assert b["stats"]["iqr_outliers"] == 1  # the 3x sample
    assert b["params"]["batch"] == 8 and b["extra_info"]["batch_size"] == 8
    assert b["extra_info"]["p99_ms"] > b["extra_info"]["p90_ms"] > b["extra_info"]["median_ms"]
    assert b["fullname"] == "benchmarks/test_throughput.py::test_throughput[" \
        "cbam-channel-eager-cpu-b8]"
    assert doc["commit_info"]["id"] == "abc" and doc["datetime"].startswith("20")
    _, back = read_json(p)
    assert [r.error for r in back] == [None, "RuntimeError: boom"]


def test_read_suite_json(tmp_path: Path) -> None:
    """A ``pytest --benchmark-json`` file of the suite: the case from extra_info, the numbers
    recomputed from stats.data (seconds)."""
    doc = {"machine_info": {"node": "n"}, "commit_info": {}, "datetime": "2026", "version": "5",
           "benchmarks": [{"name": "t", "fullname": "t", "group": None, "params": {},
                           "stats": {"data": [0.001, 0.002, 0.003], "median": 0.002,
                                     "mean": 0.002},
                           "extra_info": {"model": "se", "backend": "eager", "device": "cpu",
                                          "batch_size": 4, "threads": 2}}]}
    p = tmp_path / "suite.json"
    p.write_text(json.dumps(doc))
    _, (r,) = read_json(p)
    assert r.key == ("se", "eager", "cpu", "float32", 4) and r.median_ms == pytest.approx(2.0)
    assert r.n_samples == 3 and r.images_per_s == pytest.approx(2000.0)
    doc["benchmarks"][0]["extra_info"] = {}
    p.write_text(json.dumps(doc))
    with pytest.raises(ResultsFileError, match="not a chanattn_export benchmark"):
        read_json(p)


def test_legacy_json_still_reads(tmp_path: Path) -> None:
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"schema": "chanattn_export.bench/1", "machine": {"cpu_model": "y"},
                             "results": [result().to_dict()]}))
    machine, (r,) = read_json(p)
    assert machine == {"cpu_model": "y"} and r.median_ms == pytest.approx(2.0)


def test_compare_flags_overlapping_iqrs_and_gates() -> None:
    from chanattn_export.bench.compare import parse_threshold

    a = [result("eager", 0.002), result("onnxruntime", 0.001)]
    b = [result("eager", 0.0021), result("onnxruntime", 0.002)]
    c = compare(a, b)
    by = {r.key[1]: r for r in c.ratios}
    assert by["eager"].inconclusive and not by["onnxruntime"].inconclusive
    assert [r.key[1] for r in c.regressions(0.10)] == ["onnxruntime"]
    assert [r.key[1] for r in c.regressions(0.04)] == ["eager", "onnxruntime"]
    assert parse_threshold("10%") == pytest.approx(0.1) == parse_threshold(" 10 % ")
    with pytest.raises(Exception, match="percentage"):
        parse_threshold("ten")
    with pytest.raises(Exception, match="needs its unit"):  # 10% or 1000%? never guessed
        parse_threshold("0.1")
