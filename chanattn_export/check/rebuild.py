"""The second, stronger check of a registered block: rebuild it from the registry and its
weights file (never from the model file) and compare the artifact with it at fresh inputs.

Needs torch; everything the untrusted manifest would make us allocate is refused first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..artifacts import ManifestEntry
from ..errors import ChanAttnError, first_line
from .cases import MAX_INPUT_ELEMENTS

# one limit for what an export may take and what a re-check allocates: per parity input, or
# per weight matrix (1 GiB of float32)
MAX_ELEMENTS = MAX_INPUT_ELEMENTS


def torch_available() -> bool:
    """Whether torch imports here (a deployment host has only numpy and onnxruntime)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def size_problem(entry: ManifestEntry) -> str | None:
    """What the untrusted manifest would make us allocate, refused before allocating it."""
    from .cases import parity_batches, parity_sizes

    m, inp = entry.model, entry.input
    for h, w in parity_sizes(inp):
        for n in parity_batches(inp):
            shape = inp.shape(m.layout, m.channels, batch=n, height=h, width=w)
            elements = 1
            for d in shape:
                elements *= d
            if elements > MAX_ELEMENTS:
                return (f"the manifest asks for parity inputs of shape {list(shape)} "
                        f"({elements:.3g} elements, more than 2**28): refused before allocating")
    weights = m.channels * m.channels // max(1, m.ratio or 1)
    if weights > MAX_ELEMENTS:
        return (f"the manifest's model ({m.channels} channels, ratio {m.ratio}) would allocate "
                f"{weights:.3g} weights (more than 2**28): refused before allocating")
    return None


def rebuild(entry: ManifestEntry, weights: bytes, add: Callable[[str, str], None]) -> Any:
    """The eager block of ``entry`` from its weights bytes; None (and a problem) if it fails."""
    from ..registry import build_model

    try:
        return build_model(entry.model, weights)
    except ChanAttnError as e:
        add(entry.weights, str(e))
    except Exception as e:  # safetensors raises its own error type on bad bytes
        add(entry.weights, f"not a valid safetensors file: {first_line(e)}")
    return None


__all__ = ["MAX_ELEMENTS", "rebuild", "size_problem", "torch_available"]
