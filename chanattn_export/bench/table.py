"""Text tables for results and comparisons: numbers in, aligned text out."""

from __future__ import annotations

from collections.abc import Sequence

from .compare import Comparison
from .records import BenchResult


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) if i >= 5 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    return "\n".join(lines)


RESULT_HEADERS = ["model", "backend", "device", "dtype", "batch", "threads", "median_ms",
                  "iqr_ms", "images/s", "GB/s", "x_floor"]


def results_table(results: Sequence[BenchResult]) -> str:
    rows, notes = [], []
    for r in results:
        if r.skipped:
            notes.append(f"skipped {r.model} {r.backend} {r.device} batch {r.batch_size}: "
                         f"{r.skipped}")
            continue
        rows.append([r.model, r.backend, r.device, r.dtype, str(r.batch_size), str(r.threads),
                     _fmt(r.median_ms, ".3f"), _fmt(r.iqr_ms, ".3f"),
                     _fmt(r.images_per_s, ",.0f"), _fmt(r.gb_per_s, ".1f"),
                     _fmt(r.x_floor, ".2f")])
    return "\n".join([render(RESULT_HEADERS, rows), *notes])


def comparison_table(c: Comparison, a_name: str = "A", b_name: str = "B") -> str:
    headers = ["model", "backend", "device", "dtype", "batch", f"{a_name} ms", f"{b_name} ms",
               "B/A time", "speedup", "threads A/B"]
    rows = [[*map(str, r.key), f"{r.a_ms:.3f}", f"{r.b_ms:.3f}", f"{r.time_ratio:.2f}",
             f"{r.speedup:.2f}x", f"{r.a_threads}/{r.b_threads}"] for r in c.ratios]
    out = [render(headers, rows)]
    if c.geomean_speedup is not None:
        out.append(f"geometric mean speedup of B over A: {c.geomean_speedup:.2f}x "
                   f"over {len(c.ratios)} cases")
    for k in c.only_a:
        out.append(f"only in A: {' '.join(map(str, k))}")
    for k in c.only_b:
        out.append(f"only in B: {' '.join(map(str, k))}")
    return "\n".join(out)


def results_markdown(results: Sequence[BenchResult]) -> str:
    """The results table as GitHub markdown, for READMEs and reports."""
    rows = [[r.model, r.backend, r.device, r.dtype, str(r.batch_size), str(r.threads),
             _fmt(r.median_ms, ".3f"), _fmt(r.iqr_ms, ".3f"), _fmt(r.images_per_s, ",.0f"),
             _fmt(r.gb_per_s, ".1f"), _fmt(r.x_floor, ".2f")] for r in results if not r.skipped]
    lines = ["| " + " | ".join(RESULT_HEADERS) + " |",
             "|" + "|".join("---" if i < 5 else "---:" for i in range(len(RESULT_HEADERS))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
