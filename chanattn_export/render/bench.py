"""Benchmark results and comparisons as text: numbers in, aligned tables and notes out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..bench.compare import Comparison
from ..bench.config import BenchConfig
from ..bench.records import BenchResult
from ..bench.roofline import Bandwidth
from .text import num, table

RESULT_HEADERS = ["model", "backend", "device", "dtype", "batch", "threads", "median_ms",
                  "iqr_ms", "images/s", "GB/s", "x_floor", "x_copy"]
_RIGHT_FROM = 5  # batch size and every number after it


def _case(r: BenchResult) -> str:
    return f"{r.model} {r.backend} {r.device} batch {r.batch_size}"


def results_table(results: Sequence[BenchResult]) -> str:
    """Timed cases as rows; skipped and failed ones as notes under the table, with the reason."""
    rows, notes = [], []
    for r in results:
        if r.error:
            notes.append(f"failed {_case(r)}: {r.error}")
            continue
        if r.skipped:
            notes.append(f"skipped {_case(r)}: {r.skipped}")
            continue
        rows.append([r.model, r.backend, r.device, r.dtype, str(r.batch_size), str(r.threads),
                     num(r.median_ms, ".3f"), num(r.iqr_ms, ".3f"),
                     num(r.images_per_s, ",.0f"), num(r.gb_per_s, ".1f"),
                     num(r.x_floor, ".2f"), num(r.x_copy, ".2f")])
    return "\n".join([table(RESULT_HEADERS, rows, right_from=_RIGHT_FROM), *notes])


def comparison_table(c: Comparison, a_name: str = "A", b_name: str = "B") -> str:
    """B against A per matched case, the geometric mean, and the cases found on one side only."""
    headers = ["model", "backend", "device", "dtype", "batch", f"{a_name} ms", f"{b_name} ms",
               "B/A time", "speedup", "threads A/B"]
    rows = [[*map(str, r.key), f"{r.a_ms:.3f}", f"{r.b_ms:.3f}", f"{r.time_ratio:.2f}",
             f"{r.speedup:.2f}x", f"{r.a_threads}/{r.b_threads}"] for r in c.ratios]
    out = [table(headers, rows, right_from=_RIGHT_FROM)]
    if c.geomean_speedup is not None:
        out.append(f"geometric mean speedup of B over A: {c.geomean_speedup:.2f}x "
                   f"over {len(c.ratios)} cases")
    for k in c.only_a:
        out.append(f"only in A: {' '.join(map(str, k))}")
    for k in c.only_b:
        out.append(f"only in B: {' '.join(map(str, k))}")
    return "\n".join(out)


def run_footer(cfg: BenchConfig, bandwidth: Mapping[str, Bandwidth]) -> str:
    """The line under a run's table: what every row shares (threads, bandwidth, options)."""
    bw = ", ".join(f"{d} {b.gb_per_s:.1f} GB/s" for d, b in bandwidth.items())
    return (f"threads {cfg.threads}, copy bandwidth {bw}, rotate-inputs "
            f"{'on' if cfg.rotate_inputs else 'off'}, transfers "
            f"{'included' if cfg.include_transfer else 'excluded'}")


def plot_title(cpu_model: str, cfg: BenchConfig) -> str:
    """The plot's title: the machine and the options that change every line of it."""
    t = cfg.threads
    return (f"{cpu_model}, {t} thread{'s' * (t != 1)}, "
            f"rotate_inputs={'on' if cfg.rotate_inputs else 'off'}")


__all__ = ["RESULT_HEADERS", "comparison_table", "plot_title", "results_table", "run_footer"]
