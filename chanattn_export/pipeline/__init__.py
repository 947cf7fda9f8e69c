"""The one export road: subject -> eager outputs -> export -> lint -> judge -> evidence -> record.

A registered block and a user's network arrive here alike, as an
:class:`~.export.subject.Subject`; the CLI and the public API call these functions. Each step
lives in its own module; this one only wires them together, and nothing below it imports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import FAILED_DIR, ArtifactFolder, ManifestEntry
from ..artifacts.evidence import USER
from ..artifacts.outdir import leaves_no_empty_folder
from ..check.cases import check_input_size, make_cases
from ..check.localize_failure import FailureLocalization, localize_entry, localize_failure
from ..check.parity import InputCase, ParityReport, judge, measure_usable
from ..check.recheck import EntryCheck, check_entry
from ..check.settings import CheckSettings, Devices
from ..check.summary import record_parity
from ..check.vacuous import copy_failed_only, prove_with_random_weights
from ..errors import ArtifactError, ChanAttnError, InputError, InvalidSpecError, ParityError
from ..export.foreign import cannot_exit
from ..export.lint import LintProblem
from ..export.subject import Subject, block_subject
from ..spec import ExportSpec, Format, Tolerance
from .precision import step_for
from .random_weights import judge_copy
from .record import entry_for, evidence_file

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportResult:
    """What one export produced: numbers and paths, no formatting."""

    spec: ExportSpec
    path: Path
    sha256: str
    size_bytes: int
    weights_path: Path
    exporter: str  # resolved exporter ("dynamo"/"legacy"; "trace" for TorchScript)
    export_seconds: float
    parity: ParityReport
    fallback_reason: str | None = None
    lint: tuple[LintProblem, ...] = ()  # graph lint of an ONNX file; any problem fails it
    written: bool = True  # False: failed parity and not kept (the folder is unchanged)
    reference_path: Path | None = None  # the evidence file: parity inputs and eager outputs
    localized: FailureLocalization | None = None  # a failed ONNX file's first diverging node
    repro_path: Path | None = None  # its repro folder, written beside a kept failed file

    @property
    def passed(self) -> bool:
        return self.parity.passed and not self.lint

    def raise_for_status(self) -> ExportResult:
        """Raise :class:`ParityError` naming the first failed check unless parity passed."""
        if self.lint:
            raise ParityError(f"{self.path.name} fails the graph lint: {self.lint[0]}; "
                              "the artifact is marked failed")
        if not self.passed:
            c = self.parity.failures[0]
            why = c.why or (f"needs atol {c.needed_atol:.3g}, allowed "
                            f"{self.parity.tolerance.atol:g}")
            raise ParityError(
                f"{self.path.name} fails parity on {c.backend} (case {c.case}, shape "
                f"{list(c.shape)}): {why}; the artifact is marked failed")
        return self


def export_artifact(spec: ExportSpec, out: str | os.PathLike[str] = "artifacts", *,
                    weights: str | os.PathLike[str] | None = None, seed: int = 0,
                    tolerance: Tolerance | None = None, parity_seed: int = 0,
                    progress: Progress | None = None, devices: Devices = None,
                    keep_failed: bool = False, reduced: Any = None,
                    runtimes: Devices = None) -> ExportResult:
    """A registered block (``spec``, weights from a file or ``seed``) down the export road;
    ``reduced``: the fp16/int8 options (:class:`~.precision.ReducedOptions`)."""
    from ..check.reduced import default_tolerance
    from ..runtime import require_devices

    require_devices(spec.format, devices)  # an absent GPU that was asked for: before any work
    settings = CheckSettings(tolerance or default_tolerance(spec.precision), parity_seed,
                             devices, runtimes)
    return export_subject(block_subject(spec, weights, seed), out, settings,
                          progress=progress, keep_failed=keep_failed, reduced=reduced)


@leaves_no_empty_folder("out")
@cannot_exit
def export_subject(subject: Subject, out: str | os.PathLike[str] = "artifacts",
                   settings: CheckSettings | None = None, *, progress: Progress | None = None,
                   keep_failed: bool = False, reduced: Any = None) -> ExportResult:
    """Export, lint and judge ``subject`` on every parity case, keep its evidence, and commit it.
    ``subject.spec.precision`` fp16/int8: the file is converted and judged at that precision's
    bounds against the same eager outputs (:mod:`.precision`; ``reduced``: its options).

    A failed artifact never lands beside the passing ones: it is not written (the folder, and
    any earlier passing artifact of that name, stay as they were), or with ``keep_failed`` it
    is written under ``DIR/failed/`` with its manifest record, outside ``manifest.json``.
    """
    from ..runtime import EagerRunner, require_devices, runners_for
    from ..runtime.validation import Expected

    say = progress or (lambda _msg: None)
    settings = settings or CheckSettings()
    spec, net = subject.spec, subject.net
    check_input_size(spec.model, spec.input)  # what parity would allocate: before any work
    require_devices(spec.format, settings.devices)
    expected = Expected.from_spec(spec.model, spec.input)
    # a dynamic H/W block is also judged at 1 x 1; a user's network decides what it accepts
    cases = make_cases(spec.model, spec.input, settings.seed, smallest=subject.source != USER)
    say(f"running {spec.model.name} eagerly on {len(cases)} parity inputs ...")
    outputs = _eager_outputs(EagerRunner(net, expected=expected), cases, spec, subject.source)
    step = step_for(spec, net, reduced, settings.devices, say)  # fp16/int8: calibration now
    folder = ArtifactFolder(out)
    folder.ensure()  # every check of the subject passed: now the export work
    evidence = evidence_file(spec, cases, outputs, settings.seed)
    say(f"exporting {spec.filename} ...")
    t0 = time.perf_counter()
    exported = subject.export() if step is None else step.export(subject.export())
    seconds = time.perf_counter() - t0
    lint = lint_export(spec, exported.data)
    say(f"checking parity of {spec.filename} ...")
    try:
        if step is not None:
            report = step.judge(exported.data, cases, settings.tolerance, settings.seed, outputs)
        else:
            runners = runners_for(spec.format, exported.data, net, expected, settings.devices,
                                  settings.runtimes)
            diffs, skips = measure_usable(None, runners, cases, outputs=outputs)
            report = judge(diffs, settings.tolerance, settings.seed, skips)
        # weights that make the block trivial: a random-weights copy judged too (fp32 files)
        report = prove_with_random_weights(report, net, spec, cases, outputs,
                                           None if step else judge_copy(subject, settings, cases))
    except ChanAttnError:
        if not lint:
            raise
        report = ParityReport(settings.tolerance, (), settings.seed)  # the lint says why
    localized = None
    if report.failures:  # for the record: the first node where the file leaves eager
        say(f"localising the first failure of {spec.filename} ...")
        why_not = None if step is None else (
            f"not for {spec.precision} files yet: their graph is the converted one, and the "
            "float16 reference that catches overflow is not what localisation runs")
        localized = localize_failure(net, spec.format, exported.data, report, cases,
                                     settings.tolerance, why_not or copy_failed_only(report))
    entry = entry_for(subject, exported, report, lint, evidence, outputs, cases, localized)
    entry = step.annotate(entry) if step is not None else entry
    evidence_rel = str(entry.reference)
    files = {spec.filename: exported.data, entry.weights: subject.weights, evidence_rel: evidence}
    path, written = land(folder, entry, files, keep_failed=keep_failed)
    kept_failed = written and not entry.passed
    repro = localized.write_repro(path) if kept_failed and localized is not None else None
    return ExportResult(spec, path, entry.sha256, len(exported.data),
                        path.parent / entry.weights, exported.exporter, seconds, report,
                        exported.fallback_reason, lint, written, path.parent / evidence_rel,
                        localized, repro)


def _eager_outputs(eager: Any, cases: Sequence[InputCase], spec: ExportSpec,
                   subject_source: str) -> list[np.ndarray]:
    """The outputs the artifact must reproduce; a batch or size the module refuses is the
    caller's error (the artifact is declared to take it), said in one line."""
    try:
        return [np.ascontiguousarray(eager.infer(c.x), dtype=np.float32) for c in cases]
    except InputError as e:
        takes = "any batch" + (" and H x W (dynamic_hw)" if spec.input.dynamic_hw else "")
        who = "the network" if subject_source == USER else f"block {spec.model.name!r}"
        raise InvalidSpecError(f"{who} must take {takes}, but {e}") from None


def land(folder: ArtifactFolder, entry: ManifestEntry, files: Mapping[str, bytes], *,
         keep_failed: bool) -> tuple[Path, bool]:
    """Commit a passing entry with its files; keep a failed one under ``DIR/failed/`` when
    asked, else write nothing. Returns the model file's path and whether it was written."""
    from ..artifacts.commit import commit
    from ..artifacts.commit import keep_failed as write_failed

    if entry.passed:
        commit(folder, entry, dict(files))
        return folder.root / entry.path, True
    if keep_failed:
        return write_failed(folder, entry, dict(files)), True
    return folder.root / FAILED_DIR / entry.path, False


def lint_export(spec: ExportSpec, data: bytes) -> tuple[LintProblem, ...]:
    """Graph lint of an ONNX export: a problem fails the export like a parity failure."""
    if spec.format is not Format.ONNX:
        return ()
    from ..export.lint import lint_onnx

    return tuple(lint_onnx(data))


def recheck_folder(out: str | os.PathLike[str], *, tolerance: Tolerance | None = None,
                   seed: int = 0, progress: Progress | None = None,
                   devices: Devices = None, trust_torchscript: bool = False,
                   localize: bool = False, runtimes: Devices = None) -> list[EntryCheck]:
    """``parity DIR``: re-run parity for every entry from its files, stopping at the first file
    problem, and record the new verdicts. Judged at ``tolerance`` or the toolkit's defaults,
    never at a tolerance read from the manifest. TorchScript files are programs: they are
    loaded only with ``trust_torchscript``; otherwise their checks say ``skipped``.
    ``localize``: each failed entry's first failure is localised (``EntryCheck.localized``)."""
    from ..runtime import require_devices

    say = progress or (lambda _msg: None)
    settings = CheckSettings(tolerance or Tolerance(), seed, devices, runtimes)
    folder = ArtifactFolder(out)
    if not folder.root.is_dir():
        raise ArtifactError(f"{folder.manifest_path}: no manifest.json (no such folder)")
    with folder.shared():  # one consistent state while reading, even during an export
        manifest = folder.read_manifest(missing_ok=False)
        if not manifest.entries:
            raise ArtifactError(f"{folder.manifest_path}: manifest lists no artifacts")
        for fmt in {e.format for e in manifest.entries}:
            require_devices(fmt, devices)  # an absent GPU that was asked for: before any verdict
        checks, cache = [], {}  # cache: the bytes each check read, by path and sha256
        for entry in manifest.entries:
            say(f"checking parity of {entry.path} ...")
            check = check_entry(folder, entry, settings, collect=False, cache=cache,
                                trust_torchscript=trust_torchscript)
            if localize and check.parity is not None and check.parity.failures:
                say(f"localising the first failure of {entry.path} ...")
                check = replace(check, localized=localize_entry(check, cache, settings))
            checks.append(check)
    record_parity(folder, checks)
    return checks


__all__ = ["ExportResult", "entry_for", "export_artifact", "export_subject", "land",
           "lint_export", "recheck_folder"]
