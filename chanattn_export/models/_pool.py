"""Layout-aware pooling and gate shaping shared by the attention families.

Pooling is written as ``mean``/``amax`` over the spatial axes rather than adaptive pooling
modules: it exports to plain ReduceMean/ReduceMax with dynamic H/W and runs several times
faster on CPU (measured in docs/design-notes.md). Axis rules come from :class:`Layout`.

NHWC's spatial max, a max over axes that are not innermost, is the exception: onnxruntime's
ReduceMax is slower on such a strided axis than on a contiguous one, so while the dynamo ONNX
exporter traces it is written as a ``MaxPool`` over small windows plus a ReduceMax of what is
left. Same exact max; eager and TorchScript keep ``amax`` (eager ``max_pool2d`` on that view was
35x slower). CBAM's NCHW channel max had such a window too, until a quiet-machine run showed it
no faster than the plain ReduceMax (benchmarks/NOTES.md section 8).

An ONNX file is a promise to every conformant runtime, so a rewrite is kept only where it is
valid for every input the file accepts in every runtime checked (docs/runtimes.md): OpenVINO
refuses (or, on one thread, silently empties) a ``MaxPool`` whose window is larger than the
axis. So a window is used only on an axis that is static and at least as long as the window;
a dynamic H or W (which may be 1) keeps the plain ReduceMax. Each rewrite applied during an
export is noted (:func:`recording`) and listed in the manifest's ``rewrites``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from ..spec import Layout

#: The rewrites, by the name the manifest's ``rewrites`` lists them under (docs/runtimes.md).
NHWC_SPATIAL_MAX = "nhwc-spatial-max-pool"
NHWC_EXPAND = "nhwc-broadcast-expand"
ROW_CONV = "cbam-row-conv"
CONTEXT_MATMUL = "gc-context-matmul"

#: Rewrites left out of exports: empty in use; benchmarks/layout_ratio.py --ablate adds one at a
#: time to show that each kept rewrite still wins on its own.
DISABLED: set[str] = set()
_local = threading.local()


@contextmanager
def recording() -> Iterator[set[str]]:
    """Collect the names of the rewrites the forwards apply inside the block (one export)."""
    stack: list[set[str]] = _local.__dict__.setdefault("stack", [])
    names: set[str] = set()
    stack.append(names)
    try:
        yield names
    finally:
        stack.remove(names)


def note(name: str) -> None:
    """Record that the rewrite ``name`` was applied (into every active :func:`recording`)."""
    for names in _local.__dict__.get("stack", ()):
        names.add(name)


def rewrite_for_onnxruntime() -> bool:
    """True only while the dynamo ONNX exporter traces (an ONNX export *and* torch.export): the
    forwards then use the formulations onnxruntime runs fastest. Eager, TorchScript, the legacy
    ONNX exporter (opset < 18) and a plain torch.export (e.g. a ``.pt2``) keep the plain ones;
    both compute the same function (the parity checks prove it)."""
    return torch.onnx.is_in_onnx_export() and torch.compiler.is_exporting()


def wanted(name: str) -> bool:
    """:func:`rewrite_for_onnxruntime`, unless the rewrite ``name`` is in :data:`DISABLED`."""
    return rewrite_for_onnxruntime() and name not in DISABLED


#: MaxPool window of the exported NHWC spatial max, measured best in onnxruntime 1.32 among the
#: shapes tried (benchmarks/NOTES.md): 4 x 4 spatial windows with C innermost. (CBAM's NCHW
#: channel max had a 16-channel window until a quiet-machine run showed it no faster than the
#: plain ReduceMax: NOTES section 8.)
NHWC_SPATIAL_WINDOW = (4, 4, 1)


def _fits(x: torch.Tensor, window: tuple[int, int, int]) -> bool:
    """Every windowed axis of ``x`` (after the batch) is static and holds its window.

    A dynamic size is a ``SymInt`` while torch.export traces: it may be 1 at run time, so it
    never holds a window (and comparing it would add a guard to the export).
    """
    sizes = x.shape[1:]
    return all(k == 1 or (type(n) is int and n >= k) for n, k in zip(sizes, window, strict=True))


def _pooled_amax(x: torch.Tensor, window: tuple[int, int, int], reduced: int) -> torch.Tensor:
    """The max over the ``reduced`` axes after the batch axis, written for onnxruntime.

    ``MaxPool`` (3-D, ``ceil_mode``, no padding) with ``window`` on the ``[N, 1, ...]`` view,
    then ``ReduceMax`` of the few rows left. ``ceil_mode`` keeps a last partial window, which
    always starts inside the axis (no padding), so every runtime agrees on it.
    """
    pooled = F.max_pool3d(x.unsqueeze(1), window, window, ceil_mode=True)
    return pooled.amax(tuple(range(1, reduced + 2)))


def spatial_amax(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``[N, C]``: the max over H and W, in either layout."""
    if layout is Layout.NHWC and wanted(NHWC_SPATIAL_MAX) and _fits(x, NHWC_SPATIAL_WINDOW):
        note(NHWC_SPATIAL_MAX)
        return _pooled_amax(x, NHWC_SPATIAL_WINDOW, 2)
    return x.amax(layout.spatial_axes)


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
    if layout is Layout.NHWC and wanted(NHWC_EXPAND):
        note(NHWC_EXPAND)
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


def at_least_one(n: Any) -> Any:
    """``max(n, 1)`` for a size computed from ``x.shape`` that survives ``torch.jit.trace``.

    Tracing hands sizes over as 0-d tensors, and Python's ``max`` would bake the trace size's
    branch into the program: traced at 1 x 1, every other size would be divided by 1. Eager and
    torch.export see plain ints (or SymInts), where ``max`` is right."""
    return n.clamp(min=1) if isinstance(n, torch.Tensor) else max(n, 1)

