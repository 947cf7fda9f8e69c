"""What a re-check could not do, and what it found, as problem lines: one summary line for all
that was not checked (TorchScript not trusted, torch or onnx absent), the first parity failure
and each skipped backend per entry, and the new verdicts recorded by ``parity DIR``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..artifacts import ArtifactFolder
from .parity import STORED, CheckResult
from .recheck import (
    ERROR,
    NO_CHECKER,
    NO_TORCH,
    NOT_REBUILT,
    NOT_TRUSTED,
    WARNING,
    EntryCheck,
    Problem,
)
from .vacuous import vacuous_problems

TORCH_INSTALL = ("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu "
                 "(or your CUDA build), then the package with its dependencies")


def unchecked_line(checks: Sequence[EntryCheck], folder: str = ".") -> Problem | None:
    """One warning naming everything that was not checked here and what would check it."""
    from ..spec import Format

    skipped = [c.entry.path for c in checks if c.skipped == NOT_TRUSTED]
    torchless = Counter(c.entry.format for c in checks if c.skipped == NO_TORCH)
    limits = Counter(lim for c in checks for lim in c.limits)
    parts = []
    if skipped:
        n = len(skipped)
        names = ", ".join(skipped[:3]) + (f" and {n - 3} more" if n > 3 else "")
        parts.append(f"{n} TorchScript file{'s' * (n != 1)} not loaded ({names}; programs: "
                     "--trust-torchscript or a valid signature with --public-key loads them)")
    need_torch = []
    if limits[NOT_REBUILT]:
        n = limits[NOT_REBUILT]
        need_torch.append(f"{n} block{'s' * (n != 1)} not rebuilt from the weights file "
                          "(judged against the stored evidence only)")
    for fmt, n in sorted(torchless.items()):
        kind = {Format.TORCHSCRIPT: "TorchScript file", Format.PT2: ".pt2 program"}.get(
            fmt, "block with no stored evidence")
        need_torch.append(f"{n} {kind}{'s' * (n != 1)} not run")
    if need_torch:
        parts.append(f"without torch: {', '.join(need_torch)} ({TORCH_INSTALL})")
    if limits[NO_CHECKER]:
        n = limits[NO_CHECKER]
        parts.append(f"{n} ONNX file{'s' * (n != 1)} not run through onnx.checker (pip install "
                     "onnx; onnxruntime's parser still read them)")
    if not parts:
        return None
    return Problem(folder, "not checked here: " + "; ".join(parts), WARNING)


def failure_problems(check: EntryCheck) -> list[Problem]:
    """The first parity failure of each backend of a check, and each backend skipped, as problem
    lines."""
    if check.parity is None:
        return []
    tol = check.parity.tolerance
    problems = [Problem(check.entry.path, k.reason, ERROR if k.requested else WARNING)
                for k in check.parity.skipped]  # asked-for CUDA unusable: an error, else a note
    problems += [Problem(check.entry.path, m, ERROR if e else WARNING)
                 for m, e in vacuous_problems(check.parity)]  # checks that prove nothing
    first: dict[str, CheckResult] = {}
    for c in check.parity.failures:  # the first failure of each backend (runtime)
        first.setdefault(c.backend, c)
    for c in first.values():
        source = (f"stored in {check.entry.reference}" if c.reference == STORED
                  else f"built from {check.entry.weights}")
        why = (c.why if c.why
               else "the eager reference output is not finite on a finite input (NaN/Inf weights?)"
               if c.nonfinite_reference
               else "output shape differs" if c.needed_atol == float("inf") and not c.nan_mismatch
               else f"{c.nan_mismatch} NaN mismatches" if c.nan_mismatch
               else f"max |diff| {c.max_abs:.3g} needs atol {c.needed_atol:.3g} > {tol.atol:g}")
        problems.append(Problem(check.entry.path, f"parity fails on {c.backend} (case {c.case}, "
                                                  f"shape {list(c.shape)}): {why} (eager "
                                                  f"reference {source})"))
    return problems


def record_parity(folder: ArtifactFolder, checks: Sequence[EntryCheck]) -> None:
    """Store new verdicts in the manifest, for entries whose model file is still the one checked."""
    # A report without checks (every backend asked for was skipped) proves nothing either way.
    by_path = {c.entry.path: c for c in checks if c.parity is not None and c.parity.checks}

    def change(m: Any) -> Any:
        out = []
        for e in m.entries:
            c = by_path.get(e.path)
            if c is not None and c.parity is not None and e.sha256 == c.entry.sha256:
                lint = e.parity.get("lint") or []  # same bytes: the export's lint still holds
                e = e.with_parity({**c.parity.to_dict(), **({"lint": lint} if lint else {})},
                                  c.parity.passed and not lint)
            out.append(e)
        return m.replaced(out)

    folder.update_manifest(change)


__all__ = ["TORCH_INSTALL", "failure_problems", "record_parity",
           "unchecked_line"]
