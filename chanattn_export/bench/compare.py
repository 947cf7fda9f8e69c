"""Ratios between two result files (two machines, two versions): matching, not judging."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .records import BenchResult


@dataclass(frozen=True)
class Ratio:
    """B relative to A for one case: ``speedup`` > 1 means B is faster."""

    key: tuple[str, str, str, str, int]
    a_ms: float
    b_ms: float
    a_threads: int
    b_threads: int

    @property
    def time_ratio(self) -> float:
        return self.b_ms / self.a_ms

    @property
    def speedup(self) -> float:
        return self.a_ms / self.b_ms


@dataclass(frozen=True)
class Comparison:
    ratios: list[Ratio]
    only_a: list[tuple[str, str, str, str, int]]
    only_b: list[tuple[str, str, str, str, int]]

    @property
    def geomean_speedup(self) -> float | None:
        if not self.ratios:
            return None
        return math.exp(sum(math.log(r.speedup) for r in self.ratios) / len(self.ratios))


def compare(a: list[BenchResult], b: list[BenchResult]) -> Comparison:
    """Match timed (not skipped) cases on model, backend, device, dtype and batch size."""
    ta = {r.key: r for r in a if r.median_ms}
    tb = {r.key: r for r in b if r.median_ms}
    ratios = [Ratio(k, ta[k].median_ms, tb[k].median_ms, ta[k].threads, tb[k].threads)
              for k in ta if k in tb]
    return Comparison(ratios, [k for k in ta if k not in tb], [k for k in tb if k not in ta])
