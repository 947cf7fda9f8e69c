"""pytest-benchmark's JSON layout, for our records: one file format for ``bench`` and the suite.

``bench`` writes what ``pytest --benchmark-json`` writes (``machine_info``, ``commit_info``,
``benchmarks`` with ``stats`` in seconds and the raw samples in ``stats.data``, ``datetime``,
``version``), so ``pytest-benchmark compare bench.json`` shows a run next to a suite run: the
case names are the suite's. Our per-case fields ride in each benchmark's ``extra_info``; what
pytest-benchmark does not know (the config, cases that were not timed, run conditions such as
the load average and the measured bandwidth) sits under the top-level ``chanattn_export`` key,
which pytest-benchmark ignores. ``machine_info`` holds only what identifies the machine:
pytest-benchmark warns whenever two files' ``machine_info`` differ.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timezone
from typing import Any

from .records import SCHEMA, BenchResult, ResultsFileError, checked, finite_time

FORMAT_VERSION = "5.1.0"  # the pytest-benchmark JSON layout these files follow (as of 4.0-5.x)
_UNTIMED_EXTRA = ("samples_ms",)  # the samples are stats.data; not repeated in extra_info
TEST_FILE = "benchmarks/test_throughput.py"


def case_id(r: BenchResult) -> str:
    """The suite's parametrize id (``eca-onnxruntime-cpu-b8``), dtype added when not float32
    and the file's precision when not fp32."""
    tail = ("" if r.dtype == "float32" else f"-{r.dtype}") + \
        ("" if r.precision == "fp32" else f"-{r.precision}")
    return f"{r.model}-{r.backend}-{r.device}-b{r.batch_size}{tail}"


def stats_of(samples_s: list[float]) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` block from raw samples (seconds), by its definitions
    (Tukey fences at 1.5 IQR, stddev outliers beyond mean +- stddev), with our quartiles
    (numpy's linear interpolation, as in every table of this toolkit)."""
    import numpy as np

    a = np.asarray(samples_s, dtype=np.float64)
    q1, med, q3 = (float(v) for v in np.percentile(a, [25, 50, 75]))
    iqr = q3 - q1
    mean = float(a.mean())
    sd = statistics.stdev(samples_s) if len(samples_s) > 1 else 0.0
    lo_fence, hi_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = a[(a >= lo_fence) & (a <= hi_fence)]
    iqr_out = int(((a < lo_fence) | (a > hi_fence)).sum())
    sd_out = int(((a < mean - sd) | (a > mean + sd)).sum())
    return {
        "min": float(a.min()), "max": float(a.max()), "mean": mean, "stddev": sd,
        "rounds": int(a.size), "median": med, "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_out, "stddev_outliers": sd_out,
        "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": float(inside.min()) if inside.size else float(a.min()),
        "hd15iqr": float(inside.max()) if inside.size else float(a.max()),
        "ops": 1.0 / mean if mean > 0 else 0.0, "total": float(a.sum()),
        "data": [float(x) for x in a], "iterations": 1,
    }


def benchmark_entry(r: BenchResult) -> dict[str, Any]:
    """One timed record as a pytest-benchmark ``benchmarks`` item."""
    name = f"test_throughput[{case_id(r)}]"
    extra = {k: v for k, v in r.to_dict().items() if k not in _UNTIMED_EXTRA}
    return {
        "group": f"{r.model} {r.device} batch={r.batch_size}",
        "name": name, "fullname": f"{TEST_FILE}::{name}", "param": case_id(r),
        "params": {"model": r.model, "backend": r.backend, "device": r.device,
                   "batch": r.batch_size, "dtype": r.dtype},
        "stats": stats_of([s / 1e3 for s in r.samples_ms]),
        "options": {"timer": r.timer, "warmup": r.warmup, "disable_gc": False,
                    "min_rounds": r.n_samples, "max_time": None, "min_time": None},
        "extra_info": extra,
    }


def to_document(machine: dict[str, Any], results: list[BenchResult], *,
                config: dict[str, Any] | None = None, run: dict[str, Any] | None = None,
                commit: dict[str, Any] | None = None,
                when: datetime | None = None) -> dict[str, Any]:
    """The whole file: timed cases in ``benchmarks``, the rest under ``chanattn_export``."""
    timed = [r for r in results if r.samples_ms]
    return {
        "machine_info": machine,
        "commit_info": commit or {},
        "benchmarks": [benchmark_entry(r) for r in timed],
        "datetime": (when or datetime.now(timezone.utc)).isoformat(),
        "version": FORMAT_VERSION,
        "chanattn_export": {
            "schema": SCHEMA, "config": config or {}, "run": run or {},
            "untimed": [r.to_dict() for r in results if not r.samples_ms],
            "order": [case_id(r) for r in results],
        },
    }


_REQUIRED = ("model", "backend", "device", "batch_size")
_DEFAULTS = {"dtype": "float32", "threads": 0, "channels": 0, "height": 0, "width": 0,
             "layout": ""}


def result_of(bench: Any, where: str = "benchmark") -> BenchResult:
    """A record from a pytest-benchmark item (ours or the suite's): ``extra_info`` names the
    case, ``stats`` (seconds) gives the numbers, recomputed from the raw samples when present.
    The item is untrusted: any malformed part raises :class:`ResultsFileError` naming it."""
    from .timing import summarize

    if not isinstance(bench, dict):
        raise ResultsFileError(f"{where} is not an object (got {type(bench).__name__})")
    info, st = bench.get("extra_info") or {}, bench.get("stats") or {}
    if not isinstance(info, dict) or not isinstance(st, dict):
        raise ResultsFileError(f"{where}: extra_info and stats must be objects")
    missing = [k for k in _REQUIRED if k not in info]
    if missing:
        raise ResultsFileError(f"{where} ({str(bench.get('name', '?'))[:80]!r}) has no "
                               f"{', '.join(missing)} in extra_info (not a chanattn_export "
                               "benchmark)")
    r = BenchResult.from_dict({**_DEFAULTS, **info}, where)
    data = st.get("data") or []
    if not isinstance(data, list):
        raise ResultsFileError(f"{where}: stats.data must be a list of seconds")
    data = [finite_time(x, where, f"stats.data[{i}]") for i, x in enumerate(data)]
    if data:
        s = summarize(data)
        r.samples_ms = [x * 1e3 for x in data]
        r.n_samples = s.n
        r.median_ms, r.q1_ms, r.q3_ms, r.iqr_ms = s.median_ms, s.q1_ms, s.q3_ms, s.iqr_ms
        r.min_ms, r.max_ms, r.mean_ms = s.min_ms, s.max_ms, s.mean_ms
        r.p90_ms, r.p99_ms = s.p90_ms, s.p99_ms
    elif st.get("median") is not None:  # saved without data: the summary is all there is
        rounds = st.get("rounds") or 0
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise ResultsFileError(f"{where}: stats.rounds must be an integer >= 0")
        r.n_samples = rounds
        for ours, theirs in (("median_ms", "median"), ("q1_ms", "q1"), ("q3_ms", "q3"),
                             ("iqr_ms", "iqr"), ("min_ms", "min"), ("max_ms", "max"),
                             ("mean_ms", "mean")):
            v = st.get(theirs)
            setattr(r, ours, None if v is None else finite_time(v, where, f"stats.{theirs}") * 1e3)
    if r.median_ms and r.images_per_s is None:
        r.images_per_s = r.batch_size / (r.median_ms / 1e3)
    if r.median_ms and r.floor_ms and r.x_floor is None:
        r.x_floor = r.median_ms / r.floor_ms
    return checked(r, where)


def results_of(doc: dict[str, Any]) -> list[BenchResult]:
    """Every record of a document, in run order when the file says it (untimed ones too)."""
    ours = doc.get("chanattn_export") or {}
    if not isinstance(ours, dict):
        raise ResultsFileError("the 'chanattn_export' block must be an object")
    timed = [result_of(b, f"benchmarks[{i}]") for i, b in enumerate(doc["benchmarks"])]
    raw_untimed = ours.get("untimed") or []
    if not isinstance(raw_untimed, list):
        raise ResultsFileError("chanattn_export.untimed must be a list")
    untimed = [BenchResult.from_dict({**_DEFAULTS, **d} if isinstance(d, dict) else d,
                                     f"chanattn_export.untimed[{i}]")
               for i, d in enumerate(raw_untimed)]
    order = ours.get("order")
    records = timed + untimed
    if isinstance(order, list) and all(isinstance(k, str) for k in order):
        rank = {k: i for i, k in enumerate(order)}
        records.sort(key=lambda r: rank.get(case_id(r), math.inf))
    return records


__all__ = ["SCHEMA", "benchmark_entry", "case_id", "result_of", "results_of", "stats_of",
           "to_document"]
