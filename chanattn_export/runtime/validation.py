"""Input validation for runners: a bad tensor gets a clear :class:`InputError`, never a backend's.

Every runner's ``infer`` calls :func:`check_input` before handing the array to torch or
onnxruntime. What can always be checked: an ndarray, rank 4, float32, C-contiguous, non-empty.
What needs the model's expected dims (from the spec, the manifest or the ONNX graph): the channel
count at the layout's channel axis, and H/W when they were exported static. NaN and Inf values
are allowed: they are data, and what each backend returns for them is documented and tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..spec import InputSpec, Layout, ModelSpec

RANK = 4
DTYPES = (np.dtype(np.float32),)
_AXES = {Layout.NCHW: "NCHW (N, C, H, W)", Layout.NHWC: "NHWC (N, H, W, C)"}


@dataclass(frozen=True)
class Expected:
    """What a model accepts. ``dims`` holds an int for a fixed dim and a name for a dynamic one."""

    layout: Layout | None = None
    dims: tuple[int | str | None, ...] = ("batch", None, None, None)

    @classmethod
    def from_spec(cls, model: ModelSpec, inp: InputSpec | None = None) -> Expected:
        if inp is None:  # only the channel count is known
            dims: list[int | str | None] = ["batch", None, None, None]
            dims[model.layout.channel_axis] = model.channels
            return cls(model.layout, tuple(dims))
        return cls(model.layout, tuple(inp.dims(model.layout, model.channels)))

    @classmethod
    def from_onnx_shape(cls, shape: Sequence[object]) -> Expected:
        """From ``InferenceSession.get_inputs()[0].shape`` (ints for fixed, str/None dynamic)."""
        dims = tuple(d if isinstance(d, int) and d > 0 else None for d in shape)
        return cls(None, dims)

    @property
    def channels(self) -> int | None:
        if self.layout is None:
            return None
        c = self.dims[self.layout.channel_axis] if len(self.dims) == RANK else None
        return c if isinstance(c, int) else None


def check_input(x: object, expected: Expected | None = None, *,
                dtypes: Sequence[np.dtype] = DTYPES) -> np.ndarray:
    """Return ``x`` unchanged if a runner may take it, else raise :class:`InputError`."""
    if not isinstance(x, np.ndarray):
        kind = type(x).__module__ + "." + type(x).__qualname__
        hint = " (use tensor.cpu().numpy())" if kind.startswith("torch.") else ""
        raise InputError(f"input must be a numpy.ndarray; got {kind}{hint}")
    layout_txt = _AXES.get(expected.layout, "") if expected and expected.layout else ""
    if x.ndim != RANK:
        want = f" laid out {layout_txt}" if layout_txt else " (N, C, H, W) or (N, H, W, C)"
        raise InputError(f"input must have rank 4{want}; got rank {x.ndim}, shape {x.shape}")
    if x.dtype not in dtypes:
        valid = ", ".join(str(d) for d in dtypes)
        raise InputError(f"input dtype must be {valid}; got {x.dtype} "
                         f"(use x.astype(np.{dtypes[0]}))")
    if x.size == 0:
        raise InputError(f"input is empty: shape {x.shape} has a zero dim")
    if expected is not None:  # before contiguity: a wrong shape is the more useful message
        _check_dims(x.shape, expected, layout_txt)
    if not x.flags.c_contiguous:
        raise InputError(
            f"input of shape {x.shape} is not C-contiguous (a transposed or strided view?); "
            "pass np.ascontiguousarray(x)"
        )
    return x


def _check_dims(shape: tuple[int, ...], expected: Expected, layout_txt: str) -> None:
    names = (expected.layout or Layout.NCHW).axis_names
    c = expected.channels
    if c is not None:
        layout: Layout = expected.layout  # type: ignore[assignment]  (channels imply a layout)
        axis = layout.channel_axis
        if shape[axis] != c:
            other = layout.other
            swapped = shape[other.channel_axis] == c
            hint = (f"; this looks like an {str(other).upper()} tensor, the model expects "
                    f"{layout_txt}") if swapped else f" (layout {layout_txt})"
            raise InputError(
                f"input has {shape[axis]} channels at axis {axis}, expected {c}; "
                f"shape {shape}{hint}"
            )
    for i, (got, want) in enumerate(zip(shape, expected.dims, strict=False)):
        if isinstance(want, int) and got != want:
            name = names[i] if expected.layout is not None else f"dim {i}"
            raise InputError(
                f"input {name} (axis {i}) is {got}, but the model was exported with a fixed "
                f"{want}; shape {shape}, expected {_fmt(expected.dims)}"
                + (f" {layout_txt}" if layout_txt else "")
            )


def _fmt(dims: Sequence[object]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


__all__ = ["Expected", "check_input"]
