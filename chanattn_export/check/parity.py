"""Parity: measure how far each backend is from eager PyTorch, then judge against tolerances.

The inputs come from :mod:`.cases`. Measuring and judging are separate so a report can be
re-judged at other tolerances, and a failure can say which tolerance would have passed
(``needed_atol``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..spec import Tolerance
from .cases import InputCase

# What a check compared against: the eager module's outputs (at export, or rebuilt from the
# weights file), or the outputs stored in the artifact's evidence file.
EAGER, STORED = "eager", "stored"


@dataclass(frozen=True)
class Diff:
    """Numbers measured for one backend on one input; no verdict."""

    backend: str
    case: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    nan_mismatch: int  # positions where exactly one side is NaN
    shape_ok: bool
    scale: float  # max(1, max |x|): atol is per unit of input magnitude
    _expected: np.ndarray = field(repr=False, compare=False)
    _actual: np.ndarray = field(repr=False, compare=False)
    # NaN/Inf in the eager output on an all-finite input: broken weights, never "equal"
    nonfinite_reference: int = 0
    why: str = ""  # the runtime refused the file or this input (a failed check, with why)

    def needed_atol(self, rtol: float) -> float:
        """Smallest atol at which this diff passes with ``rtol``.

        The bound is ``|a - e| <= atol * scale + rtol * |e|``: float32 rounding in the pooling
        sums grows with the input's magnitude, so atol is per unit of ``max |x|`` (>= 1).
        """
        if not self.shape_ok:
            return float("inf")
        e, a = self._expected.astype(np.float64), self._actual.astype(np.float64)
        both_nan = np.isnan(e) & np.isnan(a)
        with np.errstate(invalid="ignore"):  # inf - inf: handled just below
            excess = np.abs(a - e) - rtol * np.abs(e)
        excess = np.where(both_nan | (e == a), 0.0, excess)  # e == a also covers equal infs
        excess = np.where(np.isnan(excess), np.inf, excess)  # one-sided NaN, or inf - inf
        return float(max(excess.max(initial=0.0), 0.0)) / self.scale


def input_scale(x: np.ndarray) -> float:
    finite = np.abs(x[np.isfinite(x)])
    return float(max(1.0, finite.max(initial=0.0)))


def compare(backend: str, case: str, expected: np.ndarray, actual: np.ndarray,
            scale: float = 1.0) -> Diff:
    shape_ok = tuple(expected.shape) == tuple(actual.shape)
    if not shape_ok:
        return Diff(backend, case, tuple(actual.shape), float("inf"), float("inf"), 0, False,
                    scale, expected, actual)
    e, a = expected.astype(np.float64), actual.astype(np.float64)
    e_nan, a_nan = np.isnan(e), np.isnan(a)
    valid = ~(e_nan | a_nan)
    same_inf = np.isinf(e) & (e == a)
    with np.errstate(invalid="ignore"):  # inf - inf and inf / inf are masked out below
        diff = np.where(valid & ~same_inf, np.abs(a - e), 0.0)
        denom = np.abs(e)
        finite = np.isfinite(denom) & (denom > 0)
        rel = np.divide(diff, denom, out=np.zeros_like(diff), where=finite)
    rel = np.where(((denom == 0) | np.isinf(denom)) & (diff > 0), np.inf, rel)
    return Diff(backend, case, tuple(actual.shape), float(np.nan_to_num(diff.max(initial=0.0))),
                float(rel.max(initial=0.0)), int((e_nan ^ a_nan).sum()), True, scale, expected,
                actual)


def refused(backend: str, case: InputCase, why: str) -> Diff:
    """The check of a runtime that refused the file or the input: failed, saying why."""
    return Diff(backend, case.name, tuple(case.x.shape), float("inf"), float("inf"), 0, False,
                input_scale(case.x), case.x, np.empty(0, np.float32), why=why)


def measure(reference, candidates: Iterable, cases: Sequence[InputCase]) -> list[Diff]:
    """Run every candidate runner on every case and diff it against ``reference``."""
    return measure_usable(reference, candidates, cases, skip=False)[0]


@dataclass(frozen=True)
class Skip:
    """A backend that could not be checked here (a GPU detected or asked for, but unusable)."""

    backend: str
    reason: str
    requested: bool = False  # named in an explicit device list, not merely detected


def measure_usable(reference, candidates: Iterable, cases: Sequence[InputCase],
                   skip: bool = True, outputs: Sequence[np.ndarray] | None = None,
                   ) -> tuple[list[Diff], list[Skip]]:
    """:func:`measure`, but a candidate raising :class:`DeviceUnusableError` becomes a
    :class:`Skip` (all of its diffs dropped) instead of ending the whole check. ``outputs``:
    the reference's stored outputs for ``cases`` (a user network's), in place of running it.
    A :class:`RuntimeFailedError` fails that check with its reason; a runner whose
    ``max_elements`` the largest case exceeds (onnx.reference by default) is left out."""
    from ..errors import DeviceUnusableError, RuntimeFailedError

    expected = list(outputs) if outputs is not None else [reference.infer(c.x) for c in cases]
    largest = max((c.x.size for c in cases), default=0)
    diffs, skips = [], []
    for runner in candidates:
        if getattr(runner, "max_elements", None) is not None and largest > runner.max_elements:
            continue  # the default's size bound: not run, not a skip (docs/runtimes.md)
        try:
            for case, exp in zip(cases, expected, strict=True):
                try:
                    actual = runner.infer(case.x)
                except RuntimeFailedError as e:
                    diffs.append(refused(runner.name, case, e.reason))
                    continue
                d = compare(runner.name, case.name, exp, actual, input_scale(case.x))
                if np.isfinite(case.x).all():
                    bad = int((~np.isfinite(exp)).sum())
                    d = replace(d, nonfinite_reference=bad) if bad else d
                diffs.append(d)
        except DeviceUnusableError as e:
            if not skip:
                raise
            diffs = [d for d in diffs if d.backend != runner.name]
            skips.append(Skip(e.backend, str(e), e.requested))
    return diffs, skips


@dataclass(frozen=True)
class CheckResult:
    backend: str
    case: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    needed_atol: float
    nan_mismatch: int
    passed: bool
    nonfinite_reference: int = 0
    reference: str = EAGER  # EAGER or STORED
    # Reduced precision (check/reduced.py): the output's SQNR in dB and cosine similarity; an
    # int8 case outside the calibrated input range is measured but not judged; ``why`` names
    # the measure that failed where the bound is not atol.
    sqnr_db: float | None = None
    cosine: float | None = None
    judged: bool = True
    why: str = ""


@dataclass(frozen=True)
class ParityReport:
    tolerance: Tolerance
    checks: tuple[CheckResult, ...]
    seed: int = 0
    skipped: tuple[Skip, ...] = ()  # backends not checked, with why; never a failed check
    gate: dict[str, Any] | None = None  # reduced precision: the measures' bounds and record
    # At these weights the checks prove nothing (the block is the identity, say): why, and the
    # verdict of a random-weights copy exported the same way (check/vacuous.py)
    vacuous: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        rw = (self.vacuous or {}).get("random_weights")
        return (bool(self.checks) and all(c.passed for c in self.checks)
                and any(c.judged for c in self.checks)
                and not (isinstance(rw, dict) and rw.get("passed") is not True))

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def backends(self) -> list[str]:
        return list(dict.fromkeys(c.backend for c in self.checks))

    def worst(self, backend: str) -> CheckResult:
        """The check with the largest needed atol on ``backend`` (failures first)."""
        rows = [c for c in self.checks if c.backend == backend]
        return max(rows, key=lambda c: (not c.passed, c.needed_atol, c.max_abs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "atol": self.tolerance.atol,
            "rtol": self.tolerance.rtol,
            "seed": self.seed,
            "checks": [
                {**_plain(asdict(c)), "shape": list(c.shape),
                 "max_abs": _num(c.max_abs), "max_rel": _num(c.max_rel),
                 "needed_atol": _num(c.needed_atol)}
                for c in self.checks
            ],
            "skipped": [asdict(k) for k in self.skipped],
            **({"gate": self.gate} if self.gate is not None else {}),
            **({"vacuous": self.vacuous} if self.vacuous is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParityReport:
        checks = tuple(
            CheckResult(c["backend"], c["case"], tuple(c["shape"]), _denum(c["max_abs"]),
                        _denum(c["max_rel"]), _denum(c["needed_atol"]), c["nan_mismatch"],
                        c["passed"], reference=str(c.get("reference", EAGER)),
                        sqnr_db=_opt(c.get("sqnr_db")), cosine=_opt(c.get("cosine")),
                        judged=bool(c.get("judged", True)), why=str(c.get("why", "")))
            for c in d.get("checks", [])
        )
        skipped = tuple(Skip(k["backend"], k["reason"], bool(k.get("requested", False)))
                        for k in d.get("skipped", []))
        vacuous = d.get("vacuous")
        return cls(Tolerance(d["atol"], d["rtol"]), checks, d.get("seed", 0), skipped,
                   d.get("gate"), vacuous if isinstance(vacuous, dict) else None)


def _num(x: float) -> float | str:
    """JSON has no inf/nan: store them as strings."""
    return x if np.isfinite(x) else str(x)


def _denum(x: float | str) -> float:
    return float(x)


def _opt(x: float | str | None) -> float | None:
    return None if x is None else float(x)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """The optional reduced-precision fields only where set (fp32 records stay as they were)."""
    for k, unset in (("sqnr_db", None), ("cosine", None), ("judged", True), ("why", "")):
        if d.get(k) == unset:
            d.pop(k, None)
        elif isinstance(d.get(k), float):
            d[k] = _num(d[k])
    return d


def judge(diffs: Iterable[Diff], tolerance: Tolerance, seed: int = 0,
          skipped: Iterable[Skip] = (), reference: str = EAGER) -> ParityReport:
    checks = []
    for d in diffs:
        needed = d.needed_atol(tolerance.rtol)
        passed = (d.shape_ok and d.nan_mismatch == 0 and d.nonfinite_reference == 0
                  and needed <= tolerance.atol)
        checks.append(CheckResult(d.backend, d.case, d.shape, d.max_abs, d.max_rel, needed,
                                  d.nan_mismatch, passed, d.nonfinite_reference, reference,
                                  why=d.why))
    return ParityReport(tolerance, tuple(checks), seed, tuple(skipped))


def merge(first: ParityReport, second: ParityReport) -> ParityReport:
    """One report of two judged at the same tolerance (the stored-evidence checks and the
    rebuilt-module checks of one artifact); a backend skipped by both is listed once."""
    seen = {k.backend for k in first.skipped}
    skipped = first.skipped + tuple(k for k in second.skipped if k.backend not in seen)
    return ParityReport(first.tolerance, first.checks + second.checks, first.seed, skipped,
                        first.gate or second.gate)
