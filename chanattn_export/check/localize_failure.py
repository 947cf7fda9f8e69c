"""Localise a failed parity check: :func:`.localize.localize` on the first failing case.

Shared by every export (automatic on failure) and ``parity DIR --localize``. Localisation
never changes a verdict and never stops an export: when it cannot run (a TorchScript file, a
legacy export, a user network whose module is not at hand), the record says why instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..spec import Format, Tolerance
from .localize import Divergence
from .parity import CheckResult, InputCase, ParityReport
from .settings import CheckSettings

REPRO_SUFFIX = ".repro"  # <model file><suffix>/: the repro folder beside a kept failed file


@dataclass(frozen=True)
class FailureLocalization:
    """What localising the first failed check found (``divergence``), or why it could not run
    (``reason``). ``divergence`` None with no reason: the file agrees with eager on
    onnxruntime's CPU for that input (the failure was elsewhere, e.g. on CUDA)."""

    backend: str
    case: str
    input_shape: tuple[int, ...] | None  # None: the input was not looked up
    divergence: Divergence | None = None
    reason: str | None = None

    def line(self, name: str) -> str:
        """One line naming the node (or why there is none) for ``name``, the artifact."""
        shape = f", input {list(self.input_shape)}" if self.input_shape else ""
        where = f"{name} (case {self.case}{shape})"
        if self.reason:
            return f"{where}: not localised: {self.reason}"
        if self.divergence is None:
            return (f"{where}: not localised: onnxruntime on the CPU agrees with eager on this "
                    f"input; the failure is {self.backend}'s")
        return f"{where}: {self.divergence.line()}"

    def to_dict(self) -> dict[str, Any]:
        """``{"first_divergence": {...} | None}``, with the case it was found on, or the
        ``localize_error`` that says why there is none."""
        found = None
        if self.divergence is not None:
            found = {**self.divergence.to_dict(), "case": self.case, "backend": self.backend,
                     "input_shape": list(self.input_shape or ())}
        out: dict[str, Any] = {"first_divergence": found}
        if self.reason:
            out["localize_error"] = self.reason
        return out

    def write_repro(self, model_path: str | os.PathLike[str]) -> Path | None:
        """The repro folder beside ``model_path`` (``<file>.repro``); None without a node."""
        if self.divergence is None or self.divergence.mode != "node":
            return None
        return self.divergence.write_repro(Path(f"{model_path}{REPRO_SUFFIX}"))


def first_failure(report: ParityReport,
                  cases: Sequence[InputCase]) -> tuple[CheckResult, InputCase] | None:
    """The first failed check and its input. Checks are in ``measure`` order (each backend
    runs every case in turn), so a check's index among its backend's checks is its case's."""
    failed = report.failures
    if not failed:
        return None
    first = failed[0]
    same = [c for c in report.checks
            if (c.backend, c.reference) == (first.backend, first.reference)]
    index = next(i for i, c in enumerate(same) if c is first)
    if index >= len(cases) or cases[index].name != first.case:
        return None
    return first, cases[index]


def localize_failure(net: Any, fmt: Format, data: bytes, report: ParityReport,
                     cases: Sequence[InputCase], tolerance: Tolerance,
                     why_not: str | None = None) -> FailureLocalization | None:
    """Localise the first failed check of ``report`` (None when nothing failed). ``why_not``:
    the caller already knows localisation cannot run (e.g. no module at hand)."""
    from ..errors import ChanAttnError, first_line
    from .localize import localize

    if not report.failures:
        return None
    first = report.failures[0]
    reason = why_not or _unsupported(fmt, net)
    found = None if reason else first_failure(report, cases)
    if found is None:
        return FailureLocalization(first.backend, first.case, None,
                                   reason=reason or "its input is not among the cases given")
    case = found[1]
    try:
        divergence = localize(net, data, case.x, tolerance=tolerance)
    except ChanAttnError as e:
        reason = str(e)
    except Exception as e:  # a bug here must not cost the user the export or its verdict
        reason = f"localisation failed: {type(e).__name__}: {first_line(e)}"
    else:
        return FailureLocalization(first.backend, case.name, tuple(case.x.shape), divergence)
    return FailureLocalization(first.backend, case.name, tuple(case.x.shape), reason=reason)


def localize_entry(check: Any, cache: dict[str, bytes | None],
                   settings: CheckSettings) -> FailureLocalization | None:
    """``parity DIR --localize``: a failed entry's block rebuilt from its weights file, on the
    inputs of its first failed check: the stored evidence's, or the fresh cases the rebuilt
    block was compared at. ``cache``: the bytes the re-check read and checked."""
    from ..artifacts.evidence import USER, decode_reference
    from ..registry import build_model
    from .cases import CASES, make_cases
    from .parity import STORED
    from .recheck import FRESH_SEED_OFFSET

    entry, report = check.entry, check.parity
    if report is None or not report.failures:
        return None
    data = cache.get(f"{entry.path}\0{entry.sha256}")
    if entry.source == USER or data is None:
        return localize_failure(None, entry.format, b"", report, (), settings.tolerance)
    weights = cache.get(f"{entry.weights}\0{entry.weights_file.sha256}")
    net = build_model(entry.model, weights) if entry.format is Format.ONNX and weights else None
    if report.failures[0].reference == STORED:
        ref = decode_reference(cache.get(f"{entry.reference}\0{_sha(entry, entry.reference)}")
                               or b"")
        cases = [InputCase(n, x) for n, x in zip(ref.names, ref.inputs, strict=True)]
    else:
        cases = make_cases(entry.model, entry.input, settings.seed + FRESH_SEED_OFFSET, CASES)
    return localize_failure(net, entry.format, data, report, cases, settings.tolerance)


def _sha(entry: Any, rel: str | None) -> str:
    return next((f.sha256 for f in entry.files if f.path == rel), "")


def _unsupported(fmt: Format, net: Any) -> str | None:
    if fmt is not Format.ONNX:
        return f"only ONNX files are localised, not {fmt}"
    if net is None:
        return ("a user network's module is not in the folder: call "
                "chanattn_export.localize(module, path, input)")
    return None


__all__ = ["REPRO_SUFFIX", "FailureLocalization", "first_failure", "localize_entry",
           "localize_failure"]
