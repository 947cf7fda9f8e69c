"""Error measures that fit reduced precision, next to parity's elementwise bound.

- **SQNR** (signal-to-quantization-noise ratio, dB): ``10 log10(sum e^2 / sum (a - e)^2)``
  over one output. int8 rounds every activation to one of 256 levels of its calibrated range,
  so its error is noise spread over the output; SQNR measures that noise against the signal,
  whatever the output's scale. Each 6 dB is one bit: 35 dB is about 6 good bits.
- **cosine similarity** of the flattened outputs: the direction is kept even where the noise
  is large (1.0: the same up to scale).
- **top-1 agreement**: for a class output ``[N, classes]``, the share of samples whose argmax
  is the fp32 one (what a classifier's user sees).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def sqnr_db(expected: np.ndarray, actual: np.ndarray) -> float:
    """Signal-to-noise ratio of ``actual`` against ``expected`` in dB: inf when equal, -inf
    when nothing matches (NaN in ``actual``, or a zero signal with noise)."""
    e = expected.astype(np.float64).ravel()
    a = actual.astype(np.float64).ravel()
    if e.shape != a.shape or not np.isfinite(a).all():
        return -math.inf
    noise = float(np.sum((a - e) ** 2))
    signal = float(np.sum(e ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def cosine(expected: np.ndarray, actual: np.ndarray) -> float:
    """Cosine similarity of the flattened outputs (1.0 when both are zero)."""
    e = expected.astype(np.float64).ravel()
    a = actual.astype(np.float64).ravel()
    if e.shape != a.shape or not np.isfinite(a).all():
        return -1.0
    ne, na = float(np.linalg.norm(e)), float(np.linalg.norm(a))
    if ne == 0.0 and na == 0.0:
        return 1.0
    if ne == 0.0 or na == 0.0:
        return 0.0
    return float(np.dot(e, a) / (ne * na))


def is_class_output(y: np.ndarray) -> bool:
    """A ``[N, classes]`` output with at least two classes: top-1 applies."""
    return y.ndim == 2 and y.shape[1] >= 2


def top1_agreement(expected: Sequence[np.ndarray], actual: Sequence[np.ndarray]) -> float:
    """Share of samples (over all batches) whose argmax over classes matches the fp32 one."""
    same = total = 0
    for e, a in zip(expected, actual, strict=True):
        same += int(np.sum(np.argmax(e, axis=1) == np.argmax(a, axis=1)))
        total += int(e.shape[0])
    return same / total if total else math.nan


def clipped_fraction(x: np.ndarray, lo: float, hi: float) -> float:
    """Share of the values of ``x`` outside ``[lo, hi]`` (what an int8 input quantizer
    clips)."""
    return float(np.mean((x < lo) | (x > hi))) if x.size else 0.0


__all__ = ["clipped_fraction", "cosine", "is_class_output", "sqnr_db", "top1_agreement"]
