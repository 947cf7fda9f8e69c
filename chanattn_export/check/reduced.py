"""Judge a reduced-precision file on the same cases as fp32, with bounds that fit its format.

- **fp16**: the elementwise bound of fp32 (``|a - e| <= atol * max(1, max|x|) + rtol * |e|``)
  at :data:`FP16_TOLERANCE`, on onnxruntime and on the float16 reference runner; SQNR and
  cosine are recorded beside it.
- **int8**: SQNR and cosine per case (:class:`Int8Gate`), NaN and shape as always; a case whose
  input lies outside the calibration data's range (more than ``max_clipped`` of its values) is
  measured and recorded but not judged: a static int8 file clips it by design. For a class
  output, top-1 agreement with fp32 on the calibration data is judged too.

Why these bounds: docs/precision.md (measured on every registered block and SE-ResNet-18).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..spec import Precision, Tolerance
from .measures import clipped_fraction, cosine, sqnr_db
from .parity import EAGER, CheckResult, Diff, ParityReport, Skip, judge

FP16_TOLERANCE = Tolerance(atol=3e-2, rtol=1e-2)
INT8_DISPLAY = Tolerance(atol=1.0, rtol=0.0)  # int8 is judged by SQNR; atol is only shown


@dataclass(frozen=True)
class Int8Gate:
    """What an int8 file must reach on every judged case (and on the calibration data)."""

    min_sqnr_db: float = 30.0
    min_cosine: float = 0.999
    min_top1: float = 0.99
    max_clipped: float = 1e-3  # a case is judged when at most this share of it is clipped

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def default_tolerance(precision: Precision) -> Tolerance:
    """The bound a file of ``precision`` is judged at when the user gives none."""
    if precision is Precision.FP16:
        return FP16_TOLERANCE
    return INT8_DISPLAY if precision is Precision.INT8 else Tolerance()


def _measures(d: Diff) -> tuple[float | None, float | None]:
    if not d.shape_ok:
        return None, None
    e, a = d._expected, d._actual
    return sqnr_db(e, a), cosine(e, a)


def judge_reduced(precision: Precision, diffs: Sequence[Diff], inputs: Sequence[np.ndarray],
                  tolerance: Tolerance | None = None, *, seed: int = 0,
                  skipped: Sequence[Skip] = (), gate: Int8Gate | None = None,
                  input_range: tuple[float, float] | None = None,
                  top1: tuple[float, int, int] | None = None,
                  record: dict[str, Any] | None = None, reference: str = EAGER) -> ParityReport:
    """The verdict on ``diffs`` (every runner over the cases whose inputs are ``inputs``, in
    order). ``top1``: (agreement, samples, classes) on the calibration data; ``record`` is
    added to the report's gate record (the conversion's facts)."""
    tol = tolerance or default_tolerance(precision)
    if precision is not Precision.INT8:
        base = judge(diffs, tol, seed, skipped, reference)
        checks = tuple(replace(c, sqnr_db=s, cosine=k)
                       for c, (s, k) in zip(base.checks, map(_measures, diffs), strict=True))
        info = {"precision": str(precision), "bound": "elementwise", **(record or {})}
        return replace(base, checks=checks, gate=info)
    g = gate or Int8Gate()
    clipped = [0.0 if input_range is None else clipped_fraction(x, *input_range)
               for x in inputs]
    checks = []
    for i, d in enumerate(diffs):
        s, k = _measures(d)
        share = clipped[i % len(inputs)] if inputs else 0.0
        judged = share <= g.max_clipped
        why = _int8_failure(d, s, k, g)
        if not judged:
            why = (f"not judged: {share:.1%} of the input is outside the calibrated range "
                   f"[{input_range[0]:.3g}, {input_range[1]:.3g}]")  # type: ignore[index]
        checks.append(CheckResult(
            d.backend, d.case, d.shape, d.max_abs, d.max_rel, d.needed_atol(tol.rtol),
            d.nan_mismatch, not judged or not why, d.nonfinite_reference, reference,
            sqnr_db=s, cosine=k, judged=judged, why=why))
    info: dict[str, Any] = {"precision": str(precision), "bound": "sqnr", **g.to_dict(),
                            **({"input_range": list(input_range)} if input_range else {}),
                            **(record or {})}
    if top1 is not None:
        agree, samples, classes = top1
        ok = agree >= g.min_top1
        info["top1_agreement"] = agree
        backend = checks[0].backend if checks else "onnxruntime-cpu"
        checks.append(CheckResult(
            backend, "calibration top-1", (samples, classes), 0.0, 0.0, 0.0, 0,
            ok, why="" if ok else f"top-1 agreement {agree:.2%} < {g.min_top1:.0%} with fp32"))
    return ParityReport(tol, tuple(checks), seed, tuple(skipped), info)


def _int8_failure(d: Diff, s: float | None, k: float | None, g: Int8Gate) -> str:
    if not d.shape_ok:
        return "output shape differs"
    if d.nonfinite_reference:
        return "the eager reference output is not finite on a finite input"
    if d.nan_mismatch:
        return f"{d.nan_mismatch} NaN mismatches"
    if s is not None and not s >= g.min_sqnr_db:
        return f"SQNR {s:.1f} dB < {g.min_sqnr_db:g} dB"
    if k is not None and not k >= g.min_cosine:
        return f"cosine {k:.5f} < {g.min_cosine:g}"
    return ""


def precision_default(entry: Any) -> Tolerance:
    """The default bound of an entry's precision (fp32 for an entry without a conversion)."""
    from ..artifacts.conversion import precision_of

    return default_tolerance(precision_of(entry.conversion))


def recheck_reduced(entry: Any, data: bytes, net: Any, ref: Any, tolerance: Tolerance,
                    cases: Sequence[str], fresh_seed: int, add: Any) -> ParityReport | None:
    """``parity DIR`` / ``verify`` of an fp16 or int8 entry: its file on the CPU runners of its
    precision, against its stored evidence ``ref`` and, where ``net`` (the block rebuilt from
    its weights) is given, at fresh inputs (``fresh_seed``). The fp32 default tolerance means
    none was asked for: the precision's own applies. A failure goes to ``add(path, msg)``."""
    from ..artifacts.conversion import input_range_of, precision_of
    from ..errors import ChanAttnError
    from ..runtime import EagerRunner
    from ..runtime.reduced import REFERENCE_FP16, reduced_runners, reference_missing
    from ..runtime.validation import Expected
    from .cases import make_cases
    from .parity import STORED, InputCase, measure_usable, merge

    precision = precision_of(entry.conversion)
    tol = default_tolerance(precision) if tolerance == Tolerance() else tolerance
    expected = Expected.from_spec(entry.model, entry.input)
    try:
        runners = reduced_runners(precision, data, expected)
    except ChanAttnError as e:
        add(entry.path, f"cannot load: {e}")
        return None
    kw = {"input_range": input_range_of(entry.conversion),
          "record": {"recipe": (entry.conversion.get("recipe") or {}).get("recipe")}}
    missing = reference_missing() if precision is Precision.FP16 else None
    host = [Skip(REFERENCE_FP16, missing)] if missing else []  # a deployment host: said
    try:
        report = None
        if ref is not None:
            idx = [i for i, n in enumerate(ref.names) if n in cases] or range(len(ref.names))
            inputs = [InputCase(ref.names[i], ref.inputs[i]) for i in idx]
            diffs, skips = measure_usable(None, runners, inputs,
                                          outputs=[ref.outputs[i] for i in idx])
            report = judge_reduced(precision, diffs, [c.x for c in inputs], tol, seed=ref.seed,
                                   skipped=[*skips, *host], reference=STORED, **kw)
        if net is not None:
            inputs = make_cases(entry.model, entry.input, fresh_seed, cases)
            diffs, skips = measure_usable(EagerRunner(net, expected=expected), runners, inputs)
            fresh = judge_reduced(precision, diffs, [c.x for c in inputs], tol, seed=fresh_seed,
                                  skipped=[*skips, *host], **kw)
            report = fresh if report is None else merge(report, fresh)
        return report
    except ChanAttnError as e:
        add(entry.path, f"cannot run: {e}")
        return None


__all__ = ["FP16_TOLERANCE", "Int8Gate", "default_tolerance", "judge_reduced",
           "precision_default", "recheck_reduced"]
