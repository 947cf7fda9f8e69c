"""The parity inputs: every hard case at every batch and size an artifact must take.

Deterministic from a seed, never the traced example: batch 1, the traced batch and one never
traced; the export H x W and another one when H and W are dynamic; random, large, constant,
negative and saturating inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidSpecError
from ..spec import InputSpec, Layout, ModelSpec

CASES = ("random", "large", "constant", "negative", "saturate")
LARGE = 1e2


@dataclass(frozen=True)
class InputCase:
    name: str
    x: np.ndarray


def _case(name: str, shape: tuple[int, ...], layout: Layout,
          rng: np.random.Generator) -> np.ndarray:
    if name == "random":
        x = rng.standard_normal(shape)
    elif name == "large":  # float32 rounding in the pooling sums grows with magnitude
        x = rng.standard_normal(shape) * LARGE
    elif name == "constant":  # avg == max: both MLP branches see the same vector
        x = np.full(shape, 0.75)
    elif name == "negative":  # max pooling of all-negative data, ReLU cutting everything
        x = -np.abs(rng.standard_normal(shape)) - 0.1
    elif name == "saturate":  # per-channel offsets of +-30 push the sigmoid to 0 and 1
        c_axis = layout.channel_axis
        offsets = np.where(rng.random(shape[c_axis]) < 0.5, -30.0, 30.0)
        bshape = [1, 1, 1, 1]
        bshape[c_axis] = shape[c_axis]
        x = rng.standard_normal(shape) + offsets.reshape(bshape)
    else:
        raise ValueError(f"unknown parity case {name!r}")
    return np.ascontiguousarray(x, dtype=np.float32)


def parity_batches(inp: InputSpec) -> list[int]:
    """Batch 1, the traced batch and one never traced (3, or 5 when 3 was traced)."""
    untraced = 3 if inp.trace_batch != 3 else 5
    batches = [1, inp.trace_batch] + ([untraced] if inp.dynamic_batch else [])
    if not inp.dynamic_batch:
        batches = [inp.batch]
    return sorted(set(batches))


def parity_sizes(inp: InputSpec) -> list[tuple[int, int]]:
    """The export H x W, plus another one when H and W are dynamic."""
    sizes = [(inp.height, inp.width)]
    if inp.dynamic_hw:
        sizes.append((max(1, inp.height // 2 + 3), inp.width + 7))
    return sizes


MAX_INPUT_ELEMENTS = 1 << 28  # 1 GiB of float32 per parity input: the re-checks' limit too


def check_input_size(model: ModelSpec, inp: InputSpec) -> None:
    """Refuse, before anything is allocated, an export whose parity inputs (every batch and
    size :func:`make_cases` builds) would exceed :data:`MAX_INPUT_ELEMENTS` elements: such an
    artifact could not be re-checked by ``verify`` either, and the allocation would fail (or
    wake the OOM killer) after the output folder was made."""
    shapes = [inp.shape(model.layout, model.channels, batch=n, height=h, width=w)
              for h, w in parity_sizes(inp) for n in parity_batches(inp)]
    shape = max(shapes, key=math.prod)
    elements = math.prod(shape)
    if elements > MAX_INPUT_ELEMENTS:
        raise InvalidSpecError(
            f"input shape {list(shape)} (a parity input) has {elements:.3g} elements, "
            f"{elements * 4 / 2**30:.3g} GiB of float32: more than the 2**28 elements an "
            "artifact may take (verify refuses larger ones); use a smaller batch or H x W")


def make_cases(model: ModelSpec, inp: InputSpec, seed: int = 0,
               cases: Sequence[str] = CASES) -> list[InputCase]:
    """Deterministic inputs for every case x batch x size (fresh: never the traced example)."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in parity_sizes(inp):
        for n in parity_batches(inp):
            shape = inp.shape(model.layout, model.channels, batch=n, height=h, width=w)
            out.extend(InputCase(name, _case(name, shape, model.layout, rng)) for name in cases)
    return out


__all__ = ["CASES", "LARGE", "MAX_INPUT_ELEMENTS", "InputCase", "check_input_size", "make_cases",
           "parity_batches", "parity_sizes"]
