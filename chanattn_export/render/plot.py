"""Throughput against batch size as a PNG: one panel per model, one line per backend."""

from __future__ import annotations

import io
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ..bench._deps import require
from ..bench.records import BenchResult
from ..fileio import write_atomic


def throughput_png(results: Sequence[BenchResult], title: str = "") -> bytes:
    """The plot's PNG bytes; untimed cases are left out. The y axis is log: backends differ
    by 10x."""
    require("matplotlib", "the throughput plot", "or pass --no-plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    done = [r for r in results if r.images_per_s]
    models = list(dict.fromkeys(r.model for r in done)) or ["(no results)"]
    cols = min(3, len(models))
    rows = (len(models) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False,
                             dpi=80)
    try:
        for ax, model in zip(axes.flat, models, strict=False):
            lines: dict[str, list[BenchResult]] = defaultdict(list)
            for r in done:
                if r.model == model:
                    lines[f"{r.backend} ({r.device}, {r.dtype})"].append(r)
            for label, rs in lines.items():
                rs.sort(key=lambda r: r.batch_size)
                ax.plot([r.batch_size for r in rs], [r.images_per_s for r in rs], marker="o",
                        label=label)
            ax.set_title(model, fontsize=10)
            ax.set_xscale("log", base=2)
            batches = sorted({r.batch_size for r in done if r.model == model})
            ax.set_xticks(batches, [str(b) for b in batches])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_yscale("log")
            ax.set_xlabel("batch size")
            ax.set_ylabel("images / s (median)")
            ax.grid(True, which="both", alpha=0.3)
            if lines:
                ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(models):]:
            ax.axis("off")
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def plot_throughput(results: Sequence[BenchResult], path: str | os.PathLike[str],
                    title: str = "") -> Path:
    """Write the plot to ``path`` atomically: rendered in memory first, so a failure leaves
    neither a half-written PNG nor a temp file."""
    return write_atomic(Path(path), throughput_png(results, title), make_parents=True)


__all__ = ["plot_throughput", "throughput_png"]
