"""Layout-aware pooling and gate shaping shared by the attention families.

Pooling is written as ``mean``/``amax`` over the spatial axes rather than adaptive pooling
modules: it exports to plain ReduceMean/ReduceMax with dynamic H/W and runs several times
faster on CPU (measured in docs/design-notes.md). Axis rules come from :class:`Layout`.
"""

from __future__ import annotations

import torch

from ..spec import Layout


def avg_max_stacked(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``[2N, C]``: the average-pooled rows, then the max-pooled rows.

    Stacking lets the shared MLP run once; ``unflatten(0, (2, -1))`` splits it again without
    freezing the batch size (``split(n)`` would, in the legacy exporter).
    """
    dims = layout.spatial_axes
    return torch.cat([x.mean(dims), x.amax(dims)], dim=0)


def as_gate(g: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``[N, C]`` -> ``[N, C, 1, 1]`` (NCHW) or ``[N, 1, 1, C]`` (NHWC) for broadcasting."""
    if layout is Layout.NHWC:
        return g[:, None, None, :]
    return g[:, :, None, None]
