"""Ratios between two result files (two machines, two versions): matching, then a gate.

A row is *inconclusive* when the two interquartile ranges overlap: the difference between the
medians is inside the spread of either run, so no ratio on that row means anything. The gate
(``--fail-slower``) judges medians, as pytest-benchmark's ``--benchmark-compare-fail`` does;
the flag tells whether to trust a row it names. A gate must not pass what it did not measure:
a case present, timed or successful on one side only fails it (exit 2) unless the caller allows
that, and the records it compares were checked at read (finite, non-negative times), so a NaN
can never compare as "not slower".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

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
    """Matched cases and every case that could not be matched, with the reason."""

    ratios: list[Ratio]
    only_a: list[Key]  # timed in A; absent from B, or skipped there
    only_b: list[Key]
    failed: list[tuple[str, Key, str]] = field(default_factory=list)  # (side, case, why)

    @property
    def geomean_speedup(self) -> float | None:
        if not self.ratios:
            return None
        return math.exp(sum(math.log(r.speedup) for r in self.ratios) / len(self.ratios))

    def regressions(self, threshold: float) -> list[Ratio]:
        return [r for r in self.ratios if r.slower_than(threshold)]

    @property
    def unmatched(self) -> int:
        """Cases that one side did not time: missing, skipped on one side only, or failed."""
        return len(self.only_a) + len(self.only_b) + len({k for _, k, _ in self.failed})


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: exit 1 only for a case slower beyond the threshold, exit 2 (one
    line) when the files cannot be compared as a whole (a case missing or failed on either
    side, unless allowed), else 0."""

    code: int
    line: str


def gate(c: Comparison, threshold: float, allow_missing: bool = False,
         a_name: str = "A", b_name: str = "B") -> Verdict:
    """Judge ``c`` at ``threshold``: what CI sees. An unmatched case is not "not slower": it
    was not measured, so it fails the gate (exit 2) unless ``allow_missing``."""
    bad, limit = c.regressions(threshold), f"{100 * threshold:.3g}%"
    if bad:
        return Verdict(1, f"FAIL: {len(bad)} case(s) of {b_name} slower than {a_name} by more "
                          f"than {limit}")
    if c.unmatched and not allow_missing:
        return Verdict(2, f"FAIL: {c.unmatched} case(s) not timed on both sides (missing, "
                          f"skipped on one side, or failed; listed above), so the gate cannot "
                          "pass; --allow-missing gates on the common cases only")
    ignored = f" ({c.unmatched} unmatched case(s) ignored: --allow-missing)" \
        if c.unmatched else ""
    return Verdict(0, f"ok: no case of {b_name} is slower than {a_name} by more than "
                      f"{limit} over {len(c.ratios)} common case(s){ignored}")


def _iqr(r: BenchResult) -> tuple[float, float] | None:
    return (r.q1_ms, r.q3_ms) if r.q1_ms is not None and r.q3_ms is not None else None


def _by_key(results: list[BenchResult], side: str) -> dict[Key, BenchResult]:
    out: dict[Key, BenchResult] = {}
    for r in results:
        if r.key in out:
            raise IncomparableError(f"{side} has the case {' '.join(map(str, r.key))} twice; "
                                    "which one to compare is ambiguous")
        out[r.key] = r
    return out


def _why_untimed(r: BenchResult) -> str | None:
    """None for a timed case, ``skipped`` for one that cannot run there, else why it failed."""
    if r.median_ms is not None and not r.error:
        return None
    if r.skipped and not r.error:
        return "skipped"
    return r.error or "not timed (no median and no reason recorded)"


def compare(a: list[BenchResult], b: list[BenchResult], a_name: str = "A",
            b_name: str = "B") -> Comparison:
    """Match cases on model, backend, device, dtype and batch size. A case timed on both
    sides gets a ratio; skipped on both is ignored (it cannot run on either machine); every
    other case is unmatched: only on one side (absent or skipped on the other) or failed."""
    ra, rb = _by_key(a, a_name), _by_key(b, b_name)
    why_a = {k: _why_untimed(r) for k, r in ra.items()}
    why_b = {k: _why_untimed(r) for k, r in rb.items()}
    ratios, only_a, only_b, failed = [], [], [], []
    for k in [*ra, *(k for k in rb if k not in ra)]:
        wa, wb = why_a.get(k, "absent"), why_b.get(k, "absent")
        if wa is None and wb is None:
            x, y = ra[k], rb[k]
            ratios.append(Ratio(k, x.median_ms, y.median_ms, x.threads, y.threads,  # type: ignore[arg-type]
                                _iqr(x), _iqr(y)))
            continue
        for side, why in (("A", wa), ("B", wb)):
            if why not in (None, "absent", "skipped"):
                failed.append((side, k, why))
        if wa is None and wb in ("absent", "skipped"):
            only_a.append(k)
        elif wb is None and wa in ("absent", "skipped"):
            only_b.append(k)
    return Comparison(ratios, only_a, only_b, failed)


class IncomparableError(InvalidSpecError):
    """Two results files that cannot be compared at all (no case in common, a duplicate)."""


def check_comparable(c: Comparison, a_name: str, b_name: str) -> None:
    """Two files with no timed case in common compare nothing: that is an error, not ok."""
    if not c.ratios:
        raise IncomparableError(f"{a_name} and {b_name} have no timed case in common "
                                f"({len(c.only_a) + len(c.only_b) + len(c.failed)} case(s) "
                                "on one side only or failed): nothing to compare")


def parse_threshold(text: str) -> float:
    """``"10%"`` -> 0.1: how much slower B may be before the comparison fails. The unit is
    required: a bare ``10`` could mean 10% or 1000%, and a gate must not guess."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", text or "")
    if not m:
        raise InvalidSpecError(f"--fail-slower takes a percentage like 10%; got {text!r}")
    if not m.group(2):
        raise InvalidSpecError(f"--fail-slower needs its unit, e.g. 10%: a bare "
                               f"{m.group(1)!r} is ambiguous (a percentage or a fraction?)")
    value = float(m.group(1)) / 100.0
    if not 0 <= value < 100:
        raise InvalidSpecError(f"--fail-slower must be between 0% and 10000%; got {text!r}")
    return value


__all__ = ["Comparison", "IncomparableError", "Ratio", "Verdict", "check_comparable",
           "compare", "gate", "parse_threshold"]
