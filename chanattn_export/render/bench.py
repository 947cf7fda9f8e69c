"""Benchmark results and comparisons as text: numbers in, aligned tables and notes out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..bench.compare import Comparison, Verdict
from ..bench.config import BenchConfig
from ..bench.records import BenchResult
from ..bench.roofline import Bandwidth
from .text import escape_controls, num, table

RESULT_HEADERS = ["model", "backend", "device", "dtype", "batch", "threads", "median_ms",
                  "iqr_ms", "p90_ms", "p99_ms", "images/s", "GB/s", "x_floor", "x_copy"]
_RIGHT_FROM = 5  # batch size and every number after it


def ms(v: float | None) -> str:
    """Milliseconds with at least 3 significant digits: 0.0004 ms never reads as 0.000."""
    if v is None:
        return "-"
    return f"{v:.3f}" if abs(v) >= 0.1 else f"{v:#.3g}"


def ratio(x: float) -> str:
    """A ratio with 3 significant digits: it cannot round to 0.00 however small it is."""
    return f"{x:#.3g}"


def _case(r: BenchResult) -> str:
    return f"{r.model} {r.label} {r.device} batch {r.batch_size}"


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
        rows.append([r.model, r.label, r.device, r.dtype, str(r.batch_size), str(r.threads),
                     ms(r.median_ms), ms(r.iqr_ms), ms(r.p90_ms), ms(r.p99_ms),
                     num(r.images_per_s, ",.0f"), num(r.gb_per_s, ".1f"),
                     num(r.x_floor, ".2f"), num(r.x_copy, ".2f")])
    return "\n".join([table(RESULT_HEADERS, rows, right_from=_RIGHT_FROM), *notes])


def comparison_table(c: Comparison, a_name: str = "A", b_name: str = "B",
                     fail_slower: float | None = None, verdict: Verdict | None = None) -> str:
    """B against A per matched case, the geometric mean, the cases timed on one side only or
    failed, rows whose IQRs overlap flagged, and (with ``fail_slower``) the regressions named
    and the gate's ``verdict`` line. Names come from the files: control characters escaped."""
    a_name, b_name = escape_controls(a_name), escape_controls(b_name)
    headers = ["model", "backend", "device", "dtype", "batch", f"{a_name} ms", f"{b_name} ms",
               "time B/A", "speedup", "threads A/B", "note"]
    rows = []
    for r in c.ratios:
        notes = []
        if fail_slower is not None and r.slower_than(fail_slower):
            notes.append(f"SLOWER by {100 * (r.time_ratio - 1):.3g}%")
        if r.inconclusive:
            notes.append("inconclusive: IQRs overlap")
        rows.append([*(escape_controls(k) for k in r.key), ms(r.a_ms), ms(r.b_ms),
                     ratio(r.time_ratio), f"{ratio(r.speedup)}x",
                     f"{r.a_threads}/{r.b_threads}", "; ".join(notes)])
    out = [f"A = {a_name}, B = {b_name}", table(headers, rows, right_from=_RIGHT_FROM)]
    if c.geomean_speedup is not None:
        out.append(f"geometric mean speedup of {b_name} over {a_name}: "
                   f"{ratio(c.geomean_speedup)}x over {len(c.ratios)} cases")
    noisy = sum(r.inconclusive for r in c.ratios)
    if noisy:
        out.append(f"{noisy} of {len(c.ratios)} rows are inconclusive: their interquartile "
                   "ranges overlap, so the difference is within the runs' own noise")
    for side, keys in ((a_name, c.only_a), (b_name, c.only_b)):
        out.extend(f"only in {side}: {_key(k)}" for k in keys)
    for side, k, why in c.failed:
        out.append(f"failed in {a_name if side == 'A' else b_name}: {_key(k)}: "
                   f"{escape_controls(why)}")
    if verdict is not None:
        out.append(verdict.line)
    return "\n".join(out)


def _key(k: tuple[object, ...]) -> str:
    return escape_controls(" ".join(map(str, k)))


def run_footer(cfg: BenchConfig, bandwidth: Mapping[str, Bandwidth]) -> str:
    """The line under a run's table: what every row shares (threads, bandwidth, options)."""
    bw = ", ".join(f"{d} {b.gb_per_s:.1f} GB/s" for d, b in bandwidth.items())
    return (f"threads {cfg.threads}, copy bandwidth {bw}, rotate-inputs "
            f"{'on' if cfg.rotate_inputs else 'off'}, transfers "
            f"{'included' if cfg.include_transfer else 'excluded'}")


def plot_title(cpu_model: str, cfg: BenchConfig | None = None,
               files: Sequence[str] = ()) -> str:
    """The plot's title: the files it shows, the machine and the options that change every
    line of it."""
    parts = [", ".join(files)] if files else []
    if cpu_model:
        parts.append(cpu_model)
    if cfg is not None:
        t = cfg.threads
        parts.append(f"{t} thread{'s' * (t != 1)}, "
                     f"rotate_inputs={'on' if cfg.rotate_inputs else 'off'}")
    return " | ".join(parts)


__all__ = ["RESULT_HEADERS", "comparison_table", "ms", "plot_title", "ratio", "results_table",
           "run_footer"]
