"""fp32 ONNX bytes -> fp16 or int8 ONNX bytes: the one entry point of the converters.

:func:`convert` returns the file and what the manifest records about how it was made: the
tool and its version, the recipe, the calibration data's digest. The int8 recipe may be
``auto``: every recipe is quantized and scored (``score``: higher is better, the caller's
measure on the calibration data), and the best one kept; within ``TIE_DB`` of it the recipe
that quantizes more wins (it runs faster). Which bound judges the result is ``check``'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..spec import Precision
from . import int8
from .calibration import Calibration

AUTO = "auto"
TIE_DB = 1.0
_MORE_QUANTIZED = (int8.QUANTIZE, int8.GATE_PINNED, int8.GATE_FLOAT)  # tie-break order


@dataclass(frozen=True)
class Converted:
    """A reduced-precision file and the facts the manifest keeps about it."""

    data: bytes
    precision: Precision
    tool: str
    tool_version: str
    recipe: dict[str, Any]
    calibration: dict[str, Any] | None = None
    candidates: dict[str, float] = field(default_factory=dict)  # auto: recipe -> score

    def record(self) -> dict[str, Any]:
        """The manifest's ``conversion`` object."""
        out: dict[str, Any] = {"precision": str(self.precision), "tool": self.tool,
                               "tool_version": self.tool_version, "recipe": self.recipe}
        if self.calibration is not None:
            out["calibration"] = self.calibration
        if self.candidates:
            out["recipe_scores"] = {k: _num(v) for k, v in self.candidates.items()}
        return out


def input_range(calibration: Calibration) -> tuple[float, float]:
    """min and max over every calibration value: an int8 file's inputs are judged inside it."""
    lo = min(float(np.min(b)) for b in calibration.batches)
    hi = max(float(np.max(b)) for b in calibration.batches)
    return lo, hi


def convert(data: bytes, precision: Precision, calibration: Calibration, *,
            range_batches: Sequence[np.ndarray] = (), fp16_io: bool = False,
            recipe: str = AUTO, score: Callable[[bytes], float] | None = None) -> Converted:
    """The ``precision`` version of the float32 file ``data``.

    fp16: nodes whose values reach float16's range on ``calibration`` or ``range_batches``
    stay float32. int8: calibrated on ``calibration``; ``recipe`` is one of
    :data:`int8.RECIPES` or ``auto`` (needs ``score``).
    """
    calib = {**calibration.to_dict(), "input_range": list(input_range(calibration))}
    if precision is Precision.FP16:
        from . import fp16

        out, rec = fp16.to_fp16(data, [*calibration.batches, *range_batches], fp16_io=fp16_io)
        return Converted(out, precision, fp16.CONVERTER, fp16.converter_version(), rec, calib)
    if precision is not Precision.INT8:
        raise ValueError(f"nothing to convert for precision {precision}")
    tool, version = int8.QUANTIZER, int8.quantizer_version()
    if recipe != AUTO:
        out, rec = int8.to_int8(data, calibration.batches, recipe=recipe)
        return Converted(out, precision, tool, version, rec, calib)
    if score is None:
        raise ValueError("the auto int8 recipe needs a score")
    tried = {r: int8.to_int8(data, calibration.batches, recipe=r) for r in int8.RECIPES}
    scores = {r: (score(out) if _quantizes(rec) else -np.inf) for r, (out, rec) in tried.items()}
    best = max(scores.values())
    pick = next(r for r in _MORE_QUANTIZED if scores[r] >= best - TIE_DB)
    out, rec = tried[pick]
    rec = {**rec, "chosen_by": f"auto: best SQNR on the calibration data, ties within {TIE_DB:g} "
                              "dB to the recipe that quantizes more"}
    return Converted(out, precision, tool, version, rec, calib, scores)


def _quantizes(record: dict[str, Any]) -> bool:
    """Whether the recipe left anything quantized (gate-float on a parameter-free gate
    block keeps every quantizable op in float)."""
    return bool(record.get("quantized_ops"))


def _num(v: float) -> float | str:
    return float(f"{v:.4g}") if np.isfinite(v) else str(v)


__all__ = ["AUTO", "Converted", "convert", "input_range"]
