"""Re-check one manifest entry from its files: the single path behind ``parity DIR`` and ``verify``.

For every entry, block or network: each file it names stays inside the folder, is a regular
file no larger than recorded, and has the manifest's sha256, checked on the bytes read once
*before* anything parses them (:mod:`.files`); the model file loads; and the artifact is judged
against its stored evidence (:mod:`.evidence`). A registered block is also rebuilt from its
weights file (never from the model file) and compared at fresh inputs (:mod:`.rebuild`), where
torch is installed. ``collect=True`` gathers every problem (verify); ``collect=False`` raises
:class:`ArtifactError` at the first one (parity DIR). What could not be run here (a TorchScript
file not trusted, torch absent) is said in :attr:`EntryCheck.skipped`, never passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import MANIFEST, ArtifactFolder, ManifestEntry
from ..artifacts.evidence import REGISTRY
from ..errors import ArtifactError, ChanAttnError, first_line
from ..spec import Format, Tolerance
from .cases import CASES, make_cases
from .evidence import judge_stored, read_evidence
from .files import FileCache, checked_bytes
from .parity import ParityReport, judge, measure_usable, merge
from .rebuild import rebuild, size_problem, torch_available
from .reduced import precision_default, recheck_reduced
from .settings import CheckSettings
from .vacuous import carry_forward

ERROR, WARNING = "error", "warning"
QUICK_CASES = ("random", "large", "saturate")
FRESH_SEED_OFFSET = 1  # a rebuilt block is compared at inputs the export never judged
# Why an entry was not run (EntryCheck.skipped), and what part of a run entry could not be done
# here (EntryCheck.limits): the commands summarise both in one line (check/summary.py).
NOT_TRUSTED, NO_TORCH = "torchscript-not-trusted", "needs-torch"
NOT_REBUILT, NO_CHECKER = "not-rebuilt", "no-onnx-checker"


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
    """What re-checking one entry found: file/load problems, the parity report if it ran, why
    it did not run (``skipped``) and what part of it could not be done here (``limits``)."""

    entry: ManifestEntry
    problems: tuple[Problem, ...]
    parity: ParityReport | None
    skipped: str | None = None
    limits: tuple[str, ...] = ()
    localized: Any = None  # parity DIR --localize: a FailureLocalization of a failed check

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


def check_entry(folder: ArtifactFolder, entry: ManifestEntry,
                settings: CheckSettings | None = None, *, cases: Sequence[str] = CASES,
                collect: bool = True, cache: FileCache | None = None,
                trust_torchscript: bool = False,
                signed: Mapping[str, str] | None = None) -> EntryCheck:
    """Files, loading and parity of ``entry``; see the module docstring. ``signed``: the
    signature's digests, which every byte used must also match."""
    settings = settings or CheckSettings()
    out = _Collector(collect)
    cache = {} if cache is None else cache
    _stored_tolerance(entry, settings.tolerance, out)
    data: dict[str, bytes] = {}
    for f in entry.files:
        got = checked_bytes(folder, f, cache, out.add, signed)
        if got is not None:
            data[f.path] = got

    limits: list[str] = []

    def done(report: ParityReport | None = None, skipped: str | None = None) -> EntryCheck:
        return EntryCheck(entry, tuple(out.problems), report, skipped, tuple(limits))

    if out.errors or any(f.path not in data for f in entry.files):
        return done()  # never parse an unchecked file
    if Path(entry.path).suffix != entry.format.suffix:
        out.add(entry.path, f"format {entry.format} in the manifest, but the file name ends "
                            f"{Path(entry.path).suffix!r}")
        return done()
    has_torch = torch_available()
    if entry.format is Format.TORCHSCRIPT and not trust_torchscript:
        return done(skipped=NOT_TRUSTED)
    if entry.format is not Format.ONNX and not has_torch:
        return done(skipped=NO_TORCH)
    rebuilds = entry.source == REGISTRY and has_torch
    if rebuilds and (too_big := size_problem(entry)):
        out.add(entry.path, too_big)
        return done()
    loaded = _load_check(entry.format, entry.path, data[entry.path], out, limits)
    net = rebuild(entry, data[entry.weights], out.add) if rebuilds else None
    ref = read_evidence(entry, data[entry.reference], out.add) if entry.reference else None
    if not loaded or (rebuilds and net is None) or (entry.reference and ref is None):
        return done()
    if net is None and ref is None:
        return done(skipped=NO_TORCH)  # an old manifest's block, and no torch to rebuild it
    if entry.source == REGISTRY and net is None:
        limits.append(NOT_REBUILT)
    return done(_judge(entry, data[entry.path], net, ref, settings, cases, out))


def _judge(entry: ManifestEntry, model: bytes, net: Any, ref: Any, settings: CheckSettings,
           cases: Sequence[str], out: _Collector) -> ParityReport | None:
    """The stored-evidence checks, then the rebuilt-module checks, as one report."""
    from ..runtime import EagerRunner, runners_for
    from ..runtime.select import EAGER_CUDA
    from ..runtime.validation import Expected

    if entry.conversion:  # fp16/int8: their own runners and bounds (check/reduced.py)
        return recheck_reduced(entry, model, net, ref, settings.tolerance, cases,
                               settings.seed + FRESH_SEED_OFFSET, out.add)
    expected = Expected.from_spec(entry.model, entry.input)
    try:
        runners = runners_for(entry.format, model, net, expected, settings.devices,
                              settings.runtimes)
    except ChanAttnError as e:
        kind = {Format.TORCHSCRIPT: "not a loadable TorchScript file",
                Format.PT2: "not a loadable torch.export program"}.get(entry.format, "cannot load")
        out.add(entry.path, f"{kind}: {e}")
        return None
    tol = settings.tolerance
    try:
        report = None
        if ref is not None:  # no eager module behind the stored outputs: not a backend here
            report = judge_stored([r for r in runners if r.name != EAGER_CUDA], ref, tol, cases)
        if net is not None:
            inputs = make_cases(entry.model, entry.input, settings.seed + FRESH_SEED_OFFSET,
                                cases)
            diffs, skips = measure_usable(EagerRunner(net, expected=expected), runners, inputs)
            fresh = judge(diffs, tol, settings.seed + FRESH_SEED_OFFSET, skips)
            report = fresh if report is None else merge(report, fresh)
        return carry_forward(report, entry, ref, net)  # checks that prove nothing: marked
    except ChanAttnError as e:
        out.add(entry.path, f"cannot run: {e}")
        return None


def _stored_tolerance(entry: ManifestEntry, tolerance: Tolerance, out: _Collector) -> None:
    """A tolerance in the manifest looser than the defaults is reported, never used."""
    default = precision_default(entry)
    stored = {k: entry.parity.get(k) for k in ("atol", "rtol")}
    looser = [f"{k} {v:g}" for k, v in stored.items()
              if isinstance(v, int | float) and not isinstance(v, bool)
              and not v <= getattr(default, k)]
    if looser:
        out.warn(MANIFEST, f"entry {entry.path} records a looser tolerance than the defaults "
                           f"({', '.join(looser)}); ignored: judged at atol {tolerance.atol:g}, "
                           f"rtol {tolerance.rtol:g}")


def _load_check(fmt: Format, rel: str, data: bytes, out: _Collector,
                limits: list[str]) -> bool:
    """ONNX: the checker accepts the bytes before any runtime sees them (where onnx is
    installed; a deployment host has only onnxruntime, whose own parser still runs)."""
    if fmt is not Format.ONNX:
        return True
    try:
        import onnx
    except ImportError:
        limits.append(NO_CHECKER)  # onnxruntime's own parser still checks the bytes
        return True
    try:
        onnx.checker.check_model(onnx.load_from_string(data))
    except Exception as e:  # DecodeError, ValidationError, ...: untrusted bytes
        out.add(rel, f"not a valid ONNX model: {first_line(e)}")
        return False
    return True


__all__ = ["ERROR", "FRESH_SEED_OFFSET", "NOT_REBUILT", "NOT_TRUSTED", "NO_CHECKER", "NO_TORCH",
           "QUICK_CASES", "WARNING", "EntryCheck", "Problem", "check_entry"]
