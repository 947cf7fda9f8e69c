"""Parity: measure how far each backend is from eager PyTorch, then judge against tolerances.

Measuring and judging are separate so a report can be re-judged at other tolerances, and a
failure can say which tolerance would have passed (``needed_atol``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..spec import InputSpec, Layout, ModelSpec, Tolerance

CASES = ("random", "large", "constant", "negative", "saturate")
# What a check compared against: the eager module's outputs (at export, or rebuilt from the
# weights file), or the outputs stored in the artifact's evidence file.
EAGER, STORED = "eager", "stored"
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
    the reference's stored outputs for ``cases`` (a user network's), in place of running it."""
    from ..errors import DeviceUnusableError

    expected = list(outputs) if outputs is not None else [reference.infer(c.x) for c in cases]
    diffs, skips = [], []
    for runner in candidates:
        try:
            for case, exp in zip(cases, expected, strict=True):
                d = compare(runner.name, case.name, exp, runner.infer(case.x),
                            input_scale(case.x))
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


@dataclass(frozen=True)
class ParityReport:
    tolerance: Tolerance
    checks: tuple[CheckResult, ...]
    seed: int = 0
    skipped: tuple[Skip, ...] = ()  # backends not checked, with why; never a failed check
    # At these weights the checks prove nothing (the block is the identity, say): why, and the
    # verdict of a random-weights copy exported the same way (check/vacuous.py)
    vacuous: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        rw = (self.vacuous or {}).get("random_weights")
        return (bool(self.checks) and all(c.passed for c in self.checks)
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
                {**asdict(c), "shape": list(c.shape),
                 "max_abs": _num(c.max_abs), "max_rel": _num(c.max_rel),
                 "needed_atol": _num(c.needed_atol)}
                for c in self.checks
            ],
            "skipped": [asdict(k) for k in self.skipped],
            **({"vacuous": self.vacuous} if self.vacuous is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParityReport:
        checks = tuple(
            CheckResult(c["backend"], c["case"], tuple(c["shape"]), _denum(c["max_abs"]),
                        _denum(c["max_rel"]), _denum(c["needed_atol"]), c["nan_mismatch"],
                        c["passed"], reference=str(c.get("reference", EAGER)))
            for c in d.get("checks", [])
        )
        skipped = tuple(Skip(k["backend"], k["reason"], bool(k.get("requested", False)))
                        for k in d.get("skipped", []))
        vacuous = d.get("vacuous")
        return cls(Tolerance(d["atol"], d["rtol"]), checks, d.get("seed", 0), skipped,
                   vacuous if isinstance(vacuous, dict) else None)


def _num(x: float) -> float | str:
    """JSON has no inf/nan: store them as strings."""
    return x if np.isfinite(x) else str(x)


def _denum(x: float | str) -> float:
    return float(x)


def judge(diffs: Iterable[Diff], tolerance: Tolerance, seed: int = 0,
          skipped: Iterable[Skip] = (), reference: str = EAGER) -> ParityReport:
    checks = []
    for d in diffs:
        needed = d.needed_atol(tolerance.rtol)
        passed = (d.shape_ok and d.nan_mismatch == 0 and d.nonfinite_reference == 0
                  and needed <= tolerance.atol)
        checks.append(CheckResult(d.backend, d.case, d.shape, d.max_abs, d.max_rel, needed,
                                  d.nan_mismatch, passed, d.nonfinite_reference, reference))
    return ParityReport(tolerance, tuple(checks), seed, tuple(skipped))


def merge(first: ParityReport, second: ParityReport) -> ParityReport:
    """One report of two judged at the same tolerance (the stored-evidence checks and the
    rebuilt-module checks of one artifact); a backend skipped by both is listed once."""
    seen = {k.backend for k in first.skipped}
    skipped = first.skipped + tuple(k for k in second.skipped if k.backend not in seen)
    return ParityReport(first.tolerance, first.checks + second.checks, first.seed, skipped)
