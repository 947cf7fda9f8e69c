"""Does a loaded ONNX graph take and return what the manifest says? Checked before any run.

A manifest is rewritten as easily as any file: if its input name, rank, fixed dims or dtype
disagree with the graph, a server validates requests against the wrong shape and the first
``.run`` fails inside onnxruntime (or, worse, a request the manifest calls valid is refused by
the graph only at run time). Torch-free, numpy-free: it reads the session's ``get_inputs()`` /
``get_outputs()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import ArtifactError

# onnxruntime's type strings for the element types a manifest names.
ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
             "tensor(double)": "float64", "tensor(bfloat16)": "bfloat16",
             "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
             "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


class Declared(Protocol):
    name: str
    dims: Sequence[int | str]
    dtype: str


def check_graph(session: Any, inp: Declared, out: Declared, path: Path) -> None:
    """Raise :class:`ArtifactError` unless the session has exactly one input, the manifest's,
    and an output of the manifest's name, each of the manifest's rank, dtype and fixed dims
    (a dim the manifest calls dynamic must be dynamic in the graph too)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ArtifactError(f"{path}: the graph has {len(inputs)} inputs "
                            f"({', '.join(i.name for i in inputs)}); the manifest describes "
                            f"one, {inp.name!r}")
    _same(inputs[0], inp, "input", path)
    match = [o for o in outputs if o.name == out.name]
    if not match:
        raise ArtifactError(f"{path}: the graph has no output {out.name!r} (its outputs: "
                            f"{', '.join(repr(o.name) for o in outputs)}), which the manifest "
                            "names; refusing to serve it")
    _same(match[0], out, "output", path)


def _same(arg: Any, want: Declared, what: str, path: Path) -> None:
    shape = list(arg.shape) if arg.shape is not None else None
    problem = None
    if arg.name != want.name:
        problem = f"is named {arg.name!r}, the manifest says {want.name!r}"
    elif ORT_TYPES.get(arg.type, arg.type) != want.dtype:
        problem = f"has type {ORT_TYPES.get(arg.type, arg.type)}, the manifest says {want.dtype}"
    elif shape is not None and len(shape) != len(want.dims):
        problem = f"has rank {len(shape)}, the manifest's dims {list(want.dims)} rank " \
                  f"{len(want.dims)}"
    elif shape is not None:
        for i, (g, m) in enumerate(zip(shape, want.dims, strict=True)):
            fixed = isinstance(g, int) and g > 0
            if isinstance(m, int) and fixed and g != m:
                problem = f"axis {i} is {g}, the manifest says {m}"
            elif isinstance(m, str) and fixed:
                problem = f"axis {i} is fixed to {g}, the manifest declares it dynamic ({m!r})"
            if problem:
                break
    if problem:
        raise ArtifactError(f"{path}: the graph's {what} {problem}; the manifest does not "
                            "describe this model, refusing to serve it")


__all__ = ["ORT_TYPES", "check_graph"]
