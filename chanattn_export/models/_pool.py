"""Layout-aware pooling and gate shaping shared by the attention families.

Pooling is written as ``mean``/``amax`` over the spatial axes rather than adaptive pooling
modules: it exports to plain ReduceMean/ReduceMax with dynamic H/W and runs several times
faster on CPU (measured in docs/design-notes.md). Axis rules come from :class:`Layout`.

A max over an axis that is not the innermost one (NHWC's spatial max, NCHW's channel max in
CBAM) is the exception: onnxruntime's ReduceMax is about 3x slower on such a strided axis than
on a contiguous one, so while the dynamo ONNX exporter traces it is written
as a ``MaxPool`` over small windows plus a ReduceMax of what is left. Same exact max; eager
and TorchScript keep ``amax`` (eager ``max_pool2d`` on that view was 35x slower).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..spec import Layout


def rewrite_for_onnxruntime() -> bool:
    """True only while the dynamo ONNX exporter traces (an ONNX export *and* torch.export): the
    forwards then use the formulations onnxruntime runs fastest. Eager, TorchScript, the legacy
    ONNX exporter (opset < 18) and a plain torch.export (e.g. a ``.pt2``) keep the plain ones;
    both compute the same function (the parity checks prove it)."""
    return torch.onnx.is_in_onnx_export() and torch.compiler.is_exporting()


#: MaxPool windows of the exported strided maxima, measured best in onnxruntime 1.32 among the
#: shapes tried (benchmarks/NOTES.md): 4 x 4 spatial windows with C innermost (NHWC), 16
#: channels with H x W innermost (NCHW, CBAM's channel max).
NHWC_SPATIAL_WINDOW = (4, 4, 1)
NCHW_CHANNEL_WINDOW = (16, 1, 1)


def _pooled_amax(x: torch.Tensor, window: tuple[int, int, int], reduced: int) -> torch.Tensor:
    """The max over the ``reduced`` axes after the batch axis, written for onnxruntime.

    ``MaxPool`` (3-D, ``ceil_mode``) with ``window`` on the ``[N, 1, ...]`` view, then
    ``ReduceMax`` of the few rows left. ``ceil_mode`` keeps a last partial window, so any
    (dynamic) size >= 1 gives the exact max.
    """
    pooled = F.max_pool3d(x.unsqueeze(1), window, window, ceil_mode=True)
    return pooled.amax(tuple(range(1, reduced + 2)))


def spatial_amax(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``[N, C]``: the max over H and W, in either layout."""
    if layout is Layout.NHWC and rewrite_for_onnxruntime():
        return _pooled_amax(x, NHWC_SPATIAL_WINDOW, 2)
    return x.amax(layout.spatial_axes)


def channel_amax(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``[N, H, W]``: the max over the channel axis, in either layout (CBAM's spatial branch)."""
    if layout is Layout.NCHW and rewrite_for_onnxruntime():
        return _pooled_amax(x, NCHW_CHANNEL_WINDOW, 1)
    return x.amax(layout.channel_axis)


def avg_max_stacked(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``[2N, C]``: the average-pooled rows, then the max-pooled rows.

    Stacking lets the shared MLP run once; ``unflatten(0, (2, -1))`` splits it again without
    freezing the batch size (``split(n)`` would, in the legacy exporter).
    """
    return torch.cat([x.mean(layout.spatial_axes), spatial_amax(x, layout)], dim=0)


def as_gate(g: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``[N, C]`` -> ``[N, C, 1, 1]`` (NCHW) or ``[N, 1, 1, C]`` (NHWC) for broadcasting."""
    if layout is Layout.NHWC:
        return g[:, None, None, :]
    return g[:, :, None, None]


def spread(x: torch.Tensor, stat: torch.Tensor, layout: Layout) -> torch.Tensor:
    """A per-channel ``[N, 1, 1, C]`` (NHWC) statistic as an elementwise op with ``x`` should
    see it: expanded to ``[N, 1, W, C]`` in NHWC exports (spans of W*C, see :func:`apply_gate`;
    the same holds for Sub, Div and Add), unchanged otherwise. NCHW's ``[N, C, 1, 1]`` spans
    H*W already."""
    if layout is Layout.NHWC and rewrite_for_onnxruntime():
        return stat.expand(-1, -1, x.shape[2], -1)
    return stat


def apply_gate(x: torch.Tensor, gate: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``x * gate`` for a channel gate shaped by :func:`as_gate` (or kept with ``keepdim``).

    For NHWC exports the ``[N, 1, 1, C]`` gate is expanded to ``[N, 1, W, C]`` first:
    onnxruntime's broadcasting Mul then walks spans of W*C elements instead of C, about 1.3x
    faster (benchmarks/NOTES.md). Eager multiplies by the unexpanded view (the same thing).
    """
    return x * spread(x, gate, layout)


def add_gate(x: torch.Tensor, gate: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``x + gate``, broadcast as :func:`apply_gate` broadcasts (global context's ``add``)."""
    return x + spread(x, gate, layout)
