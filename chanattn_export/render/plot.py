"""Throughput against batch size as an image: one panel per model, one line per backend.

Every panel shares one y axis (log images/s), so panels compare at a glance; each point is the
median with its interquartile range as an error bar, and the dashed line is the copy-bandwidth
ceiling (``x_floor`` = 1): a point on it is as fast as memory allows, below it is slower.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections import defaultdict
from collections.abc import Sequence
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


def throughput_figure(results: Sequence[BenchResult], title: str = "",
                      fmt: str = "png") -> bytes:
    """The plot as ``fmt`` bytes (png or svg); untimed cases are left out."""
    require("matplotlib", "the throughput plot", "or pass --no-plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    done = [r for r in results if r.images_per_s]
    models = list(dict.fromkeys(r.model for r in done)) or ["(no results)"]
    cols = min(3, len(models))
    rows = (len(models) + cols - 1) // cols
    size = SINGLE_IN if len(models) == 1 else (PANEL_IN[0] * cols, PANEL_IN[1] * rows + 0.4)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, dpi=DPI, sharey=True)
    try:
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
            for dev, style in (("cpu", "k--"), ("cuda", "k:")):
                ceiling = sorted({(r.batch_size, r.batch_size / (r.floor_ms / 1e3))
                                  for r in done if r.model == model and r.floor_ms
                                  and r.device == dev})
                if ceiling:
                    ax.plot(*zip(*ceiling, strict=True), style, linewidth=1,
                            label=f"{dev} copy-bandwidth ceiling (x_floor=1)")
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


__all__ = ["plot_throughput", "throughput_figure", "throughput_png"]
