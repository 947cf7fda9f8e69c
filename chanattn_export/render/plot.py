"""Throughput against batch size as an image: one panel per model, one line per backend.

Every panel shares one y axis (log images/s), so panels compare at a glance; each point is the
median with its interquartile range as an error bar. Two reference lines per device:

- ``x_copy`` = 1 (dashed): one copy of each case's own working set, in the case's cache state,
  timed in the same run (``bench/roofline.py::measure_copy_floor``). Measured the way the
  points are, it is the line a memory-bound block should not beat;
- ``x_floor`` = 1 (grey, dash-dot): the bytes moved at the DRAM bandwidth of one large copy.
  Inputs that stay in cache beat it (``x_floor`` < 1), so it is no ceiling for them.

A line is labelled a *ceiling* only when no point of its panel and device lies above it
(:func:`reference_lines`); otherwise its label says that points beat it, and why.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..bench._deps import require
from ..bench.records import BenchResult
from ..fileio import write_atomic

PANEL_IN = (4.8, 3.8)  # inches per panel; at DPI that is 480 x 380 px, labels stay legible
SINGLE_IN = (6.4, 4.6)
DPI = 100


def _label(r: BenchResult) -> str:
    return f"{r.label} ({r.device}{', ' + r.dtype if r.dtype != 'float32' else ''})"


def _iqr_throughput(r: BenchResult) -> tuple[float, float]:
    """images/s at the quartiles: the slow quartile (q3) gives the low end."""
    med = r.images_per_s or 0.0
    if not (r.q1_ms and r.q3_ms):
        return 0.0, 0.0
    lo, hi = r.batch_size / (r.q3_ms / 1e3), r.batch_size / (r.q1_ms / 1e3)
    return max(0.0, med - lo), max(0.0, hi - med)


@dataclass(frozen=True)
class RefLine:
    """A reference line of one panel: ``points`` are (batch, images/s) pairs."""

    label: str
    points: tuple[tuple[int, float], ...]
    style: str
    ceiling: bool  # no measured point of the panel and device lies above it


# (what the line is, its ratio name, the records' time for one batch, matplotlib style per device)
_KINDS = (
    ("copy of the same working set", "x_copy", lambda r: r.copy_ms,
     {"cpu": "k--", "cuda": "k:"}),
    ("DRAM copy bandwidth", "x_floor", lambda r: r.floor_ms,
     {"cpu": "-.", "cuda": ":"}),
)


def reference_lines(results: Sequence[BenchResult], model: str) -> list[RefLine]:
    """The panel's reference lines (see the module docstring), labelled for what they are."""
    done = [r for r in results if r.images_per_s and r.model == model]
    lines = []
    for what, ratio, ms, styles in _KINDS:
        for dev, style in styles.items():
            at: dict[int, float] = {}  # one value per batch (records of a run share it)
            for r in done:
                if r.device == dev and ms(r):
                    at[r.batch_size] = max(at.get(r.batch_size, 0.0), r.batch_size / (ms(r) / 1e3))
            pts = sorted(at.items())
            if not pts:
                continue
            above = any(r.images_per_s > at[r.batch_size] * (1 + 1e-9) for r in done
                        if r.device == dev and r.batch_size in at)
            label = (f"{dev} {what} ({ratio}=1), ceiling" if not above else
                     f"{dev} {what} ({ratio}=1; not a ceiling: points beat it)")
            lines.append(RefLine(label, tuple(pts), style, not above))
    return lines


def build_figure(results: Sequence[BenchResult], title: str = "") -> object:
    """The matplotlib figure (the caller closes it); untimed cases are left out."""
    require("matplotlib", "the throughput plot", "or pass --no-plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in results if r.images_per_s]
    models = list(dict.fromkeys(r.model for r in done)) or ["(no results)"]
    cols = min(3, len(models))
    rows = (len(models) + cols - 1) // cols
    size = SINGLE_IN if len(models) == 1 else (PANEL_IN[0] * cols, PANEL_IN[1] * rows + 0.4)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, dpi=DPI, sharey=True)
    try:
        _draw(fig, axes, done, models, title, size)
    except BaseException:
        plt.close(fig)
        raise
    return fig


def _draw(fig, axes, done: list[BenchResult], models: list[str], title: str,
          size: tuple[float, float]) -> None:
    """One panel per model: the measured lines, then the reference lines."""
    from matplotlib.ticker import NullLocator

    for ax, model in zip(axes.flat, models, strict=False):
        lines: dict[str, list[BenchResult]] = defaultdict(list)
        for r in done:
            if r.model == model:
                lines[_label(r)].append(r)
        for label, rs in lines.items():
            rs.sort(key=lambda r: r.batch_size)
            err = list(zip(*(_iqr_throughput(r) for r in rs), strict=True))
            ax.errorbar([r.batch_size for r in rs], [r.images_per_s for r in rs],
                        yerr=err, marker="o", markersize=4, capsize=3, label=label)
        for line in reference_lines(done, model):
            grey = {} if line.style.startswith("k") else {"color": "0.55"}
            ax.plot(*zip(*line.points, strict=True), line.style, linewidth=1,
                    label=line.label, **grey)
        ax.set_title(model, fontsize=11)
        ax.set_xscale("log", base=2)
        batches = sorted({r.batch_size for r in done if r.model == model})
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yscale("log")
        ax.set_xlabel("batch size", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(True, which="both", alpha=0.3)
        if lines:
            ax.legend(fontsize=8, loc="best")
    for ax in axes[:, 0]:
        ax.set_ylabel("images / s (median, IQR bars)", fontsize=10)
    for ax in list(axes.flat)[len(models):]:
        ax.axis("off")
    if title:
        width = int(size[0] * 13)  # characters that fit the figure at 10 pt
        fig.suptitle("\n".join(textwrap.wrap(title, width)), fontsize=10)
    fig.tight_layout()


def throughput_figure(results: Sequence[BenchResult], title: str = "",
                      fmt: str = "png") -> bytes:
    """The plot as ``fmt`` bytes (png or svg); untimed cases are left out."""
    fig = build_figure(results, title)
    import matplotlib.pyplot as plt

    try:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    finally:
        plt.close(fig)
    return buf.getvalue()


def throughput_png(results: Sequence[BenchResult], title: str = "") -> bytes:
    return throughput_figure(results, title, "png")


def plot_throughput(results: Sequence[BenchResult], path: str | os.PathLike[str],
                    title: str = "") -> Path:
    """Write the plot to ``path`` atomically: rendered in memory first, so a failure leaves
    neither a half-written PNG nor a temp file."""
    return write_atomic(Path(path), throughput_png(results, title), make_parents=True)


__all__ = ["RefLine", "build_figure", "plot_throughput", "reference_lines", "throughput_figure",
           "throughput_png"]
