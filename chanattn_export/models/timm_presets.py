"""timm 1.0.31's defaults for the families ``timm.layers`` also has (``preset="timm"``).

Each function maps ``(channels, ratio)`` to our constructor's keyword arguments so that the
block has timm's shapes, names and function: the hidden width from timm's ``make_divisible``
(``rd_ratio = 1 / ratio``, ``rd_divisor``, ``round_limit=0``), the ECA kernel rule with its
minimum of 3, CBAM's spatial BatchNorm, GlobalContext's sigmoid-gated ("scale") fusion with
``LayerNorm2d``'s eps 1e-6. Checked against timm's own modules in tests/test_timm.py.
"""

from __future__ import annotations

import math
from typing import Any


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None,
                   round_limit: float = 0.9) -> int:
    """timm.layers.helpers.make_divisible, verbatim in behaviour."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


def timm_eca_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    """timm's EcaModule/CecaModule rule: the ECA-Net kernel size, but never below 3."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def _rd(channels: int, ratio: int | None, divisor: int) -> int:
    return make_divisible(channels * (1.0 / (ratio or 16)), divisor, round_limit=0.0)


def se(channels: int, ratio: int | None) -> dict[str, Any]:
    return {"hidden": _rd(channels, ratio, 8)}  # SEModule: rd_divisor 8


def ese(channels: int, ratio: int | None) -> dict[str, Any]:
    return {}  # EffectiveSEModule is our default (hard sigmoid, C x C fc with bias)


def eca(channels: int, ratio: int | None) -> dict[str, Any]:
    return {"kernel_size": timm_eca_kernel_size(channels)}


def cbam(channels: int, ratio: int | None) -> dict[str, Any]:
    return {"hidden": _rd(channels, ratio, 1), "spatial_norm": True}


def gc(channels: int, ratio: int | None) -> dict[str, Any]:
    return {"hidden": _rd(channels, ratio, 1), "fuse": "scale", "eps": 1e-6}
