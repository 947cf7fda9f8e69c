"""Lines about artifacts and folders: what an export wrote, what verify found."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..check.recheck import ERROR, Problem
from ..spec import Format
from .text import escape_controls


def export_line(res: Any) -> str:
    """``wrote PATH (size, exporter, seconds)`` plus the fallback note, for an ExportResult."""
    lint = "".join(f"\nLINT FAIL {res.path.name}: {p}" for p in getattr(res, "lint", ()))
    if not getattr(res, "written", True):
        why = "failed the graph lint" if lint and res.parity.passed else "failed parity"
        return (f"not written: {res.path.name} {why}; the folder is unchanged "
                "(--keep-failed keeps failed exports under DIR/failed/)" + lint)
    kib = res.size_bytes / 1024
    how = (f"{res.exporter} exporter, opset {res.spec.opset}" if res.spec.format is Format.ONNX
           else "torch.export program" if res.spec.format is Format.PT2
           else "traced + frozen TorchScript")
    line = f"wrote {res.path} ({kib:.1f} KiB, {how}, {res.export_seconds:.1f} s)"
    if res.fallback_reason:
        line += f"\n  note: fell back to the legacy exporter: {res.fallback_reason}"
    return line + lint


def problem_line(folder: str | os.PathLike[str], p: Problem) -> str:
    """``FOLDER/FILE: [warning: ]message``; the folder itself is not repeated."""
    where = p.path if p.path == str(folder) else str(Path(folder) / p.path)
    # The path and message quote the folder's files and the manifest's strings: a control
    # character there could clear the screen or forge a line such as verify's summary.
    return escape_controls(f"{where}: {'' if p.severity == ERROR else p.severity + ': '}"
                           f"{p.message}")


def verify_summary(folder: str | os.PathLike[str], problems: Sequence[Problem],
                   strict: bool = False) -> str:
    folder = escape_controls(folder)
    errors = sum(p.severity == ERROR for p in problems)
    if errors:
        return f"verify {folder}: {errors} problem{'s' * (errors != 1)}"
    warnings = len(problems) - errors
    if warnings:
        verdict = "--strict: failed" if strict else "see above"
        return (f"verify {folder}: no errors, {warnings} warning{'s' * (warnings != 1)} "
                f"({verdict}: what was not checked or not tidy)")
    return f"verify {folder}: every file matches the manifest, loads, and passes parity"


__all__ = ["export_line", "problem_line", "verify_summary"]
