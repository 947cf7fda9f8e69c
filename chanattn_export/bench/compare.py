"""Ratios between two result files (two machines, two versions): matching, then a gate.

A row is *inconclusive* when the two interquartile ranges overlap: the difference between the
medians is inside the spread of either run, so no ratio on that row means anything. The gate
(``--fail-slower``) judges medians, as pytest-benchmark's ``--benchmark-compare-fail`` does;
the flag tells whether to trust a row it names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import InvalidSpecError
from .records import BenchResult

Key = tuple[str, str, str, str, int]


@dataclass(frozen=True)
class Ratio:
    """B relative to A for one case: ``speedup`` > 1 means B is faster."""

    key: Key
    a_ms: float
    b_ms: float
    a_threads: int
    b_threads: int
    a_iqr: tuple[float, float] | None = None  # (q1, q3) in ms, when known
    b_iqr: tuple[float, float] | None = None

    @property
    def time_ratio(self) -> float:
        return self.b_ms / self.a_ms

    @property
    def speedup(self) -> float:
        return self.a_ms / self.b_ms

    @property
    def inconclusive(self) -> bool:
        """The IQRs overlap: the medians differ by less than the runs' own spread."""
        if self.a_iqr is None or self.b_iqr is None:
            return False
        return self.a_iqr[0] <= self.b_iqr[1] and self.b_iqr[0] <= self.a_iqr[1]

    def slower_than(self, threshold: float) -> bool:
        """B's median exceeds A's by more than ``threshold`` (0.1 = 10%)."""
        return self.time_ratio > 1.0 + threshold


@dataclass(frozen=True)
class Comparison:
    ratios: list[Ratio]
    only_a: list[Key]
    only_b: list[Key]

    @property
    def geomean_speedup(self) -> float | None:
        if not self.ratios:
            return None
        return math.exp(sum(math.log(r.speedup) for r in self.ratios) / len(self.ratios))

    def regressions(self, threshold: float) -> list[Ratio]:
        return [r for r in self.ratios if r.slower_than(threshold)]


def _iqr(r: BenchResult) -> tuple[float, float] | None:
    return (r.q1_ms, r.q3_ms) if r.q1_ms is not None and r.q3_ms is not None else None


def compare(a: list[BenchResult], b: list[BenchResult]) -> Comparison:
    """Match timed (not skipped) cases on model, backend, device, dtype and batch size."""
    ta = {r.key: r for r in a if r.median_ms}
    tb = {r.key: r for r in b if r.median_ms}
    ratios = [Ratio(k, ta[k].median_ms, tb[k].median_ms, ta[k].threads, tb[k].threads,
                    _iqr(ta[k]), _iqr(tb[k]))  # type: ignore[arg-type]
              for k in ta if k in tb]
    return Comparison(ratios, [k for k in ta if k not in tb], [k for k in tb if k not in ta])


def parse_threshold(text: str) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1: how much slower B may be before the comparison fails."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", text or "")
    if not m:
        raise InvalidSpecError(f"--fail-slower takes a percentage like 10% or a fraction like "
                               f"0.1; got {text!r}")
    value = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
    if not 0 <= value < 100:
        raise InvalidSpecError(f"--fail-slower must be between 0% and 10000%; got {text!r}")
    return value


__all__ = ["Comparison", "Ratio", "compare", "parse_threshold"]
