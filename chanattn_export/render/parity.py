"""Parity reports as text: the summary table and one line per failed check."""

from __future__ import annotations

from collections.abc import Sequence

from ..check.parity import EAGER, CheckResult, ParityReport
from ..check.vacuous import SUFFIX as RANDOM_ROWS
from .text import escape_controls, table
from .text import sci as _fmt


def _where(c: CheckResult) -> str:
    return f"{c.case} {'x'.join(map(str, c.shape))}"


def parity_rows(artifact: str, report: ParityReport) -> list[list[str]]:
    """One row per backend and reference: the stored evidence's checks apart from the eager
    module's (at export, or rebuilt from the weights by ``parity DIR``)."""
    rows = []
    by_sqnr = (report.gate or {}).get("bound") == "sqnr"  # int8: judged by SQNR, not atol
    groups = dict.fromkeys((c.backend, c.reference) for c in report.checks)
    for backend, ref in groups:
        checks = [c for c in report.checks if (c.backend, c.reference) == (backend, ref)]
        worst = max(checks, key=lambda c: (not c.passed, c.needed_atol, c.max_abs))
        bound, shown = _fmt(worst.needed_atol), checks
        if by_sqnr:  # the judged cases (those inside the calibrated range) make the row
            shown = [c for c in checks if c.judged and c.sqnr_db is not None] or checks
            worst = min(shown, key=lambda c: (c.passed, c.sqnr_db or 0.0))
            bound = f"SQNR {worst.sqnr_db:.1f}dB" if worst.sqnr_db is not None else "-"
        ok = all(c.passed for c in checks)
        # passing checks that prove nothing at these weights are never shown as a plain PASS
        vacuous = bool(report.vacuous) and not backend.endswith(RANDOM_ROWS)
        label = backend if ref == EAGER else f"{backend} vs {ref}"
        rows.append([
            artifact, label, str(len(checks)), _fmt(max(c.max_abs for c in shown)),
            _fmt(max(c.max_rel for c in shown)), bound, _where(worst),
            ("VACUOUS" if vacuous else "PASS") if ok else "FAIL",
        ])
    return rows


PARITY_HEADERS = ("artifact", "backend", "checks", "max_abs", "max_rel", "need_atol",
                  "worst input", "result")


def parity_table(items: Sequence[tuple[str, ParityReport]]) -> str:
    rows = [r for name, rep in items for r in parity_rows(name, rep)]
    return table(PARITY_HEADERS, rows)


def skip_lines(artifact: str, report: ParityReport) -> list[str]:
    """One line per backend that could not be checked (an unusable GPU), with the reason."""
    return [escape_controls(f"SKIP {artifact}: {k.reason}" + (
        f" (asked for with {_option(k.backend)})" if k.requested else ""))
            for k in report.skipped]


def _option(backend: str) -> str:
    """The option that asked for ``backend``: a GPU by --devices, a runtime by --runtimes."""
    return "--devices" if backend.endswith("-cuda") else "--runtimes"


def vacuous_lines(artifact: str, report: ParityReport) -> list[str]:
    """Why the rows marked VACUOUS prove nothing, and what proved the graph instead."""
    from ..check.vacuous import note

    text = note(report)
    return [escape_controls(f"VACUOUS {artifact}: {text}")] if text else []


def failure_lines(artifact: str, report: ParityReport) -> list[str]:
    """One line per failed check: backend, batch, input case and error, plus what would pass."""
    tol = report.tolerance
    lines = []
    for c in report.failures:
        if c.why:  # a reduced-precision measure (int8 SQNR, ...), or a runtime that refused
            lines.append(f"FAIL {artifact}: backend={c.backend} input={c.case} "
                         f"shape={'x'.join(map(str, c.shape))}: {c.why}")
            continue
        extra = f", {c.nan_mismatch} NaN mismatches" if c.nan_mismatch else ""
        lines.append(escape_controls(
            f"FAIL {artifact}: backend={c.backend} batch={c.shape[0] if c.shape else '?'} "
            f"input={c.case} shape={'x'.join(map(str, c.shape))} max_abs={_fmt(c.max_abs)} "
            f"max_rel={_fmt(c.max_rel)}{extra}; needs atol {_fmt(c.needed_atol)} at "
            f"rtol {tol.rtol:g} (allowed atol {tol.atol:g})"
        ))
    return lines
