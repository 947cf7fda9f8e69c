"""Re-check one manifest entry from its files: the single path behind ``parity DIR`` and ``verify``.

For an entry: every file it names stays inside the folder, exists and has the manifest's sha256
(checked *before* anything parses it), the model file loads, and parity against the eager model
rebuilt from the entry's spec and its **weights file** (never from the model file) is measured
and judged; a user's network (``source: user``) is judged against its stored reference file.
``collect=True`` gathers every problem (verify); ``collect=False`` raises
:class:`ArtifactError` at the first one (parity DIR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import MANIFEST, ArtifactFolder, FileRecord, ManifestEntry, sha256_bytes
from ..artifacts.folder import MAX_FILE_BYTES
from ..errors import ArtifactError, ChanAttnError
from ..spec import Format, Tolerance
from .parity import CASES, ParityReport, judge, make_cases, measure_usable
from .vacuous import carry_forward, vacuous_problems

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
        return (all(p.severity != ERROR for p in self.problems) and self.parity is not None
                and self.parity.passed)


class _Collector:
    """Collects problems, or raises at the first one when not collecting."""

    def __init__(self, collect: bool) -> None:
        self.collect = collect
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        if not self.collect:
            raise ArtifactError(f"{path}: {message}")
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, WARNING))

    @property
    def errors(self) -> bool:
        return any(p.severity == ERROR for p in self.problems)


FileCache = dict[str, "bytes | None"]


def check_entry(folder: ArtifactFolder, entry: ManifestEntry, *, tolerance: Tolerance,
                seed: int = 0, cases: Sequence[str] = CASES, collect: bool = True,
                cache: FileCache | None = None,
                devices: str | Sequence[str] | None = None,
                trust_torchscript: bool = False) -> EntryCheck:
    """Files, loading and parity of ``entry``; see the module docstring.

    A TorchScript file is a program (loading it runs its ``__setstate__``): without
    ``trust_torchscript`` only its checksum is checked, and a warning (verify) or an error
    (parity DIR, which cannot judge it otherwise) says so.
    """
    out = _Collector(collect)
    cache = {} if cache is None else cache
    _stored_tolerance(entry, tolerance, out)
    data: dict[str, bytes] = {}
    for f in entry.files:
        got = _checked_bytes(folder, f, cache, out)
        if got is not None:
            data[f.path] = got
    if out.errors or any(f.path not in data for f in entry.files):
        return EntryCheck(entry, tuple(out.problems), None)  # never parse an unchecked file
    if Path(entry.path).suffix != entry.format.suffix:
        out.add(entry.path, f"format {entry.format} in the manifest, but the file name ends "
                            f"{Path(entry.path).suffix!r}")
        return EntryCheck(entry, tuple(out.problems), None)
    if entry.format is Format.TORCHSCRIPT and not trust_torchscript:
        why = ("not loaded: a TorchScript file is a program that runs when loaded; its checksum "
               "matches, but only --trust-torchscript or a valid signature (--public-key) "
               "lets it run")
        if collect:
            out.warn(entry.path, why)
        else:
            out.add(entry.path, why)
        return EntryCheck(entry, tuple(out.problems), None)
    if entry.reference is not None:  # a user network: no code to rebuild, stored outputs
        from .evidence import compare_stored

        ok = _load_check(entry.format, entry.path, data[entry.path], out)
        report = compare_stored(entry, data, tolerance, cases, out.add, devices) if ok else None
        return EntryCheck(entry, tuple(out.problems), report)
    report = _compare(entry, data[entry.path], data[entry.weights], tolerance, seed, cases, out,
                      devices)
    return EntryCheck(entry, tuple(out.problems), report)


def _stored_tolerance(entry: ManifestEntry, tolerance: Tolerance, out: _Collector) -> None:
    """A tolerance in the manifest looser than the defaults is reported, never used."""
    default = Tolerance()
    stored = {k: entry.parity.get(k) for k in ("atol", "rtol")}
    looser = [f"{k} {v:g}" for k, v in stored.items()
              if isinstance(v, int | float) and not isinstance(v, bool)
              and not v <= getattr(default, k)]
    if looser:
        out.warn(MANIFEST, f"entry {entry.path} records a looser tolerance than the defaults "
                           f"({', '.join(looser)}); ignored: judged at atol {tolerance.atol:g}, "
                           f"rtol {tolerance.rtol:g}")


def _checked_bytes(folder: ArtifactFolder, record: FileRecord, cache: FileCache,
                   out: _Collector) -> bytes | None:
    """The file's bytes when they match the record; each bad file is reported only once. A file
    larger than its recorded size (or than any artifact of this toolkit) is not read whole."""
    rel, sha = record.path, record.sha256
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
    limit = min(record.size if record.size is not None else MAX_FILE_BYTES, MAX_FILE_BYTES)
    try:
        on_disk = path.stat().st_size
        if on_disk > limit:  # checked before reading: a sparse 8 GB file costs nothing
            out.add(rel, f"{on_disk} bytes on disk, more than {limit} (the manifest's size, "
                         f"at most {MAX_FILE_BYTES}): corrupted or changed; not read")
            return None
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
    from ..errors import first_line
    from ..registry import build_model
    from ..runtime import EagerRunner, runners_for
    from ..runtime.validation import Expected

    too_big = _size_problem(entry, cases)
    if too_big:
        out.add(entry.path, too_big)
        return None
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
        kind = {Format.TORCHSCRIPT: "not a loadable TorchScript file",
                Format.PT2: "not a loadable torch.export program"}.get(entry.format, "cannot load")
        out.add(entry.path, f"{kind}: {e}")
        return None
    try:
        inputs = make_cases(entry.model, entry.input, seed, cases)
        diffs, skips = measure_usable(EagerRunner(net, expected=expected), runners, inputs)
        return carry_forward(judge(diffs, tolerance, seed, skips), net, entry, inputs)
    except ChanAttnError as e:
        out.add(entry.path, f"cannot run: {e}")
        return None


MAX_ELEMENTS = 1 << 28  # 1 GiB of float32 per parity input, or per weight matrix


def _size_problem(entry: ManifestEntry, cases: Sequence[str]) -> str | None:
    """What the untrusted manifest would make us allocate, refused before allocating it."""
    from .parity import parity_batches, parity_sizes

    m, inp = entry.model, entry.input
    for h, w in parity_sizes(inp):
        for n in parity_batches(inp):
            shape = inp.shape(m.layout, m.channels, batch=n, height=h, width=w)
            elements = 1
            for d in shape:
                elements *= d
            if elements > MAX_ELEMENTS:
                return (f"the manifest asks for parity inputs of shape {list(shape)} "
                        f"({elements:.3g} elements, more than 2**28): refused before allocating")
    weights = m.channels * m.channels // max(1, m.ratio or 1)
    if weights > MAX_ELEMENTS:
        return (f"the manifest's model ({m.channels} channels, ratio {m.ratio}) would allocate "
                f"{weights:.3g} weights (more than 2**28): refused before allocating")
    return None


def _load_check(fmt: Format, rel: str, data: bytes, out: _Collector) -> bool:
    """ONNX: the checker accepts the bytes before any runtime sees them."""
    if fmt is not Format.ONNX:
        return True
    from ..errors import first_line

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
    problems += [Problem(check.entry.path, m, ERROR if e else WARNING)
                 for m, e in vacuous_problems(check.parity)]  # checks that prove nothing
    source = (f"stored in {check.entry.reference}" if check.entry.reference
              else f"built from {check.entry.weights}")
    for c in check.parity.failures[:1]:
        why = ("the eager reference output is not finite on a finite input (NaN/Inf weights?)"
               if getattr(c, "nonfinite_reference", 0)
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


__all__ = ["ERROR", "QUICK_CASES", "WARNING", "EntryCheck", "Problem", "check_entry",
           "failure_problems", "record_parity"]
