"""Throughput against batch size: one panel per model, one line per backend (and device)."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from ._deps import require
from .records import BenchResult


def plot_throughput(results: list[BenchResult], path: str | os.PathLike[str],
                    title: str = "") -> Path:
    """Write a PNG; skipped cases are left out. The y axis is log: backends differ by 10x."""
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path
