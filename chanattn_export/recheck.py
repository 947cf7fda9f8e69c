"""Re-check one manifest entry from its files: the single path behind ``parity DIR`` and ``verify``.

For an entry: every file it names stays inside the folder, exists and has the manifest's sha256
(checked *before* anything parses it), the model file loads, and parity against the eager model
rebuilt from the entry's spec and its **weights file** (never from the model file) is measured
and judged. ``collect=True`` gathers every problem (verify); ``collect=False`` raises
:class:`ArtifactError` at the first one (parity DIR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import MANIFEST, ArtifactFolder, ManifestEntry, sha256_bytes
from .errors import ArtifactError, ChanAttnError
from .parity import CASES, ParityReport, judge, make_cases, measure_usable
from .spec import Format, Tolerance

ERROR, WARNING = "error", "warning"
QUICK_CASES = ("random", "large", "saturate")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file of the folder (``path`` is relative to the folder)."""

    path: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        tag = "" if self.severity == ERROR else f"{self.severity}: "
        return f"{self.path}: {tag}{self.message}"


@dataclass(frozen=True)
class EntryCheck:
    """What re-checking one entry found: file/load problems, and the parity report if it ran."""

    entry: ManifestEntry
    problems: tuple[Problem, ...]
    parity: ParityReport | None

    @property
    def ok(self) -> bool:
        return not self.problems and self.parity is not None and self.parity.passed


class _Collector:
    """Collects problems, or raises at the first one when not collecting."""

    def __init__(self, collect: bool) -> None:
        self.collect = collect
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        if not self.collect:
            raise ArtifactError(f"{path}: {message}")
        self.problems.append(Problem(path, message))


FileCache = dict[str, "bytes | None"]


def check_entry(folder: ArtifactFolder, entry: ManifestEntry, *, tolerance: Tolerance,
                seed: int = 0, cases: Sequence[str] = CASES, collect: bool = True,
                cache: FileCache | None = None,
                devices: str | Sequence[str] | None = None) -> EntryCheck:
    """Files, loading and parity of ``entry``; see the module docstring."""
    out = _Collector(collect)
    cache = {} if cache is None else cache
    data: dict[str, bytes] = {}
    for f in entry.files:
        got = _checked_bytes(folder, f.path, f.sha256, cache, out)
        if got is not None:
            data[f.path] = got
    if out.problems or entry.path not in data or entry.weights not in data:
        return EntryCheck(entry, tuple(out.problems), None)  # never parse an unchecked file
    if Path(entry.path).suffix != entry.format.suffix:
        out.add(entry.path, f"format {entry.format} in the manifest, but the file name ends "
                            f"{Path(entry.path).suffix!r}")
        return EntryCheck(entry, tuple(out.problems), None)
    report = _compare(entry, data[entry.path], data[entry.weights], tolerance, seed, cases, out,
                      devices)
    return EntryCheck(entry, tuple(out.problems), report)


def _checked_bytes(folder: ArtifactFolder, rel: str, sha: str, cache: FileCache,
                   out: _Collector) -> bytes | None:
    """The file's bytes when they match ``sha``; each bad file is reported only once."""
    key = f"{rel}\0{sha}"
    if key in cache:
        return cache[key]
    cache[key] = None
    try:
        path = folder.resolve(rel)
    except ChanAttnError as e:
        out.add(MANIFEST, str(e))
        return None
    if not path.is_file():
        out.add(rel, "missing (named in the manifest)")
        return None
    try:
        raw = path.read_bytes()
    except OSError as e:
        out.add(rel, f"unreadable: {e.strerror or e}")
        return None
    if sha256_bytes(raw) != sha:
        out.add(rel, f"sha256 differs from the manifest ({len(raw)} bytes on disk): "
                     "truncated, corrupted or changed")
        return None
    cache[key] = raw
    return raw


def _compare(entry: ManifestEntry, model_data: bytes, weights_data: bytes,
             tolerance: Tolerance, seed: int, cases: Sequence[str],
             out: _Collector,
             devices: str | Sequence[str] | None = None) -> ParityReport | None:
    from .export._quiet import first_line
    from .registry import build_model
    from .runtime import EagerRunner, runners_for
    from .validation import Expected

    expected = Expected.from_spec(entry.model, entry.input)
    loaded = _load_check(entry.format, entry.path, model_data, out)
    try:
        net = build_model(entry.model, weights_data)
    except ChanAttnError as e:
        out.add(entry.weights, str(e))
        return None
    except Exception as e:  # safetensors raises its own error type on bad bytes
        out.add(entry.weights, f"not a valid safetensors file: {first_line(e)}")
        return None
    if not loaded:
        return None
    try:
        runners = runners_for(entry.format, model_data, net, expected, devices)
    except ChanAttnError as e:
        kind = "not a loadable TorchScript file" if entry.format is Format.TORCHSCRIPT \
            else "cannot load"
        out.add(entry.path, f"{kind}: {e}")
        return None
    try:
        inputs = make_cases(entry.model, entry.input, seed, cases)
        diffs, skips = measure_usable(EagerRunner(net, expected=expected), runners, inputs)
        return judge(diffs, tolerance, seed, skips)
    except ChanAttnError as e:
        out.add(entry.path, f"cannot run: {e}")
        return None


def _load_check(fmt: Format, rel: str, data: bytes, out: _Collector) -> bool:
    """ONNX: the checker accepts the bytes before any runtime sees them."""
    if fmt is not Format.ONNX:
        return True
    from .export._quiet import first_line

    try:
        import onnx
    except ImportError:
        out.add(rel, "cannot check: onnx is not installed (pip install onnx)")
        return False
    try:
        onnx.checker.check_model(onnx.load_from_string(data))
    except Exception as e:  # DecodeError, ValidationError, ...: untrusted bytes
        out.add(rel, f"not a valid ONNX model: {first_line(e)}")
        return False
    return True


def failure_problems(check: EntryCheck) -> list[Problem]:
    """The first parity failure of a check, and each backend skipped, as problem lines (verify)."""
    if check.parity is None:
        return []
    tol = check.parity.tolerance
    problems = [Problem(check.entry.path, k.reason, ERROR if k.requested else WARNING)
                for k in check.parity.skipped]  # asked-for CUDA unusable: an error, else a note
    for c in check.parity.failures[:1]:
        why = ("output shape differs" if c.needed_atol == float("inf") and not c.nan_mismatch
               else f"{c.nan_mismatch} NaN mismatches" if c.nan_mismatch
               else f"max |diff| {c.max_abs:.3g} needs atol {c.needed_atol:.3g} > {tol.atol:g}")
        problems.append(Problem(check.entry.path, f"parity fails on {c.backend} (case {c.case}, "
                                                  f"shape {list(c.shape)}): {why} (eager "
                                                  f"reference built from {check.entry.weights})"))
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
                e = e.with_parity(c.parity.to_dict(), c.parity.passed)
            out.append(e)
        return m.replaced(out)

    folder.update_manifest(change)


__all__ = ["ERROR", "QUICK_CASES", "WARNING", "EntryCheck", "Problem", "check_entry",
           "failure_problems", "record_parity"]
