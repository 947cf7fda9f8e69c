"""Compose the steps: spec -> model -> exporter -> parity -> artifact folder, and re-checks.

The CLI and the public API call these functions. Each step lives in its own module; this one
only wires them together, and nothing below it imports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .artifacts import FAILED_DIR, ArtifactFolder, ManifestEntry, sha256_bytes
from .check.parity import ParityReport, judge, make_cases, measure_usable
from .check.recheck import EntryCheck, check_entry, record_parity
from .environment import versions
from .errors import ArtifactError, ChanAttnError, ParityError
from .export import Exported, export_bytes
from .export.lint import LintProblem
from .registry import build_model, get_model_info
from .spec import ExportSpec, Format, Tolerance

Progress = Callable[[str], None]
Devices = str | Sequence[str] | None  # None: CPU, plus CUDA where detected


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
    reference_path: Path | None = None  # a user network's stored inputs and eager outputs

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
            raise ParityError(
                f"{self.path.name} fails parity on {c.backend} (case {c.case}, shape "
                f"{list(c.shape)}): needs atol {c.needed_atol:.3g}, allowed "
                f"{self.parity.tolerance.atol:g}; the artifact is marked failed")
        return self


def run_parity(net, spec: ExportSpec, data: bytes, tolerance: Tolerance,
               seed: int = 0, devices: Devices = None) -> ParityReport:
    """Every backend for the file ``data`` on ``devices`` (default: CPU, plus CUDA where
    detected) against eager ``net`` on the hard cases; an unusable CUDA backend is a skip."""
    from .runtime import EagerRunner, runners_for
    from .runtime.validation import Expected

    expected = Expected.from_spec(spec.model, spec.input)
    candidates = runners_for(spec.format, data, net, expected, devices)
    cases = make_cases(spec.model, spec.input, seed)
    diffs, skips = measure_usable(EagerRunner(net, expected=expected), candidates, cases)
    return judge(diffs, tolerance, seed, skips)


def export_artifact(spec: ExportSpec, out: str | os.PathLike[str] = "artifacts", *,
                    weights: str | os.PathLike[str] | None = None, seed: int = 0,
                    tolerance: Tolerance | None = None, parity_seed: int = 0,
                    progress: Progress | None = None, devices: Devices = None,
                    keep_failed: bool = False) -> ExportResult:
    """Build, export, check parity (and lint ONNX) and commit one artifact that passed.

    A failed one never lands beside the passing artifacts: it is not written (the folder, and
    any earlier passing artifact of that name, stay as they were), or with ``keep_failed`` it is
    written under ``DIR/failed/`` with its manifest record, outside ``manifest.json``.
    """
    from .models.weights import state_dict_bytes
    from .runtime import require_devices

    say = progress or (lambda _msg: None)
    require_devices(spec.format, devices)  # an absent GPU that was asked for: before any work
    folder = ArtifactFolder(out)
    net = build_model(spec.model, weights, seed)  # bad weights: fail before creating anything
    folder.ensure()  # a read-only folder fails before the export work
    weights_data = state_dict_bytes(net, {"model": spec.model.name})
    # The eager reference is rebuilt from the stored bytes, exactly as `parity DIR` will.
    net = build_model(spec.model, weights_data)
    tol = tolerance or Tolerance()
    checked = export_and_judge(
        spec, lambda: export_bytes(net, spec),
        lambda data: run_parity(net, spec, data, tol, parity_seed, devices), tol, parity_seed,
        say)
    from .check.vacuous import prove_with_random_weights  # weights that make parity vacuous

    checked = replace(checked, report=prove_with_random_weights(
        checked.report, net, spec.model, spec.input, lambda twin: run_parity(
            twin, spec, export_bytes(twin, spec).data, tol, parity_seed, devices), parity_seed))
    entry = entry_for(spec, checked, weights_data, get_model_info(spec.model.name).output)
    exported = checked.exported
    files = {spec.filename: exported.data, entry.weights: weights_data}
    path, written = land(folder, entry, files, keep_failed=keep_failed)
    return ExportResult(spec, path, entry.sha256, len(exported.data),
                        path.parent / entry.weights, exported.exporter, checked.seconds,
                        checked.report, exported.fallback_reason, checked.lint, written)


def land(folder: ArtifactFolder, entry: ManifestEntry, files: Mapping[str, bytes], *,
         keep_failed: bool) -> tuple[Path, bool]:
    """Commit a passing entry with its files; keep a failed one under ``DIR/failed/`` when
    asked, else write nothing. Returns the model file's path and whether it was written."""
    from .artifacts.commit import commit
    from .artifacts.commit import keep_failed as write_failed

    if entry.passed:
        commit(folder, entry, files)
        return folder.root / entry.path, True
    if keep_failed:
        return write_failed(folder, entry, files), True
    return folder.root / FAILED_DIR / entry.path, False


@dataclass(frozen=True)
class Checked:
    """One export, linted and judged: what :func:`entry_for` records."""

    exported: Exported
    seconds: float
    lint: tuple[LintProblem, ...]
    report: ParityReport


def export_and_judge(spec: ExportSpec, export: Callable[[], Exported],
                     judge_file: Callable[[bytes], ParityReport], tolerance: Tolerance,
                     parity_seed: int, say: Progress) -> Checked:
    """Export (timed), lint an ONNX file, then judge it. A file the lint refuses may also fail
    to run; its report is then empty and the lint says why."""
    say(f"exporting {spec.filename} ...")
    t0 = time.perf_counter()
    exported = export()
    seconds = time.perf_counter() - t0
    lint = lint_export(spec, exported.data)
    say(f"checking parity of {spec.filename} ...")
    try:
        report = judge_file(exported.data)
    except ChanAttnError:
        if not lint:
            raise
        report = ParityReport(tolerance, (), parity_seed)  # the lint says why
    return Checked(exported, seconds, lint, report)


def entry_for(spec: ExportSpec, checked: Checked, weights_data: bytes,
              output_kind: str) -> ManifestEntry:
    """The manifest record of a checked export, its weights content-addressed
    (``<stem>.<sha256[:12]>.safetensors``); failed when parity or the lint failed."""
    ex, lint, report = checked.exported, checked.lint, checked.report
    weights_sha256 = sha256_bytes(weights_data)
    weights = f"{spec.model.stem}.{weights_sha256[:12]}.safetensors"
    return ManifestEntry.create(
        path=spec.filename, data_sha256=sha256_bytes(ex.data), size=len(ex.data),
        fmt=spec.format, model=spec.model, inp=spec.input, output_kind=output_kind,
        weights=weights, weights_sha256=weights_sha256, exporter=ex.exporter,
        opset=spec.opset if spec.format is Format.ONNX else None, versions=versions(),
        parity={**report.to_dict(), **({"lint": [p.to_dict() for p in lint]} if lint else {})},
        passed=report.passed and not lint, fallback_reason=ex.fallback_reason,
        weights_size=len(weights_data))


def lint_export(spec: ExportSpec, data: bytes) -> tuple[LintProblem, ...]:
    """Graph lint of an ONNX export: a problem fails the export like a parity failure."""
    if spec.format is not Format.ONNX:
        return ()
    from .export.lint import lint_onnx

    return tuple(lint_onnx(data))


def recheck_folder(out: str | os.PathLike[str], *, tolerance: Tolerance | None = None,
                   seed: int = 0, progress: Progress | None = None,
                   devices: Devices = None,
                   trust_torchscript: bool = False) -> list[EntryCheck]:
    """``parity DIR``: re-run parity for every entry from its files and weights, stopping at the
    first file problem, and record the new verdicts. Judged at ``tolerance`` or the toolkit's
    defaults, never at a tolerance read from the manifest. TorchScript files are programs: they
    are loaded only with ``trust_torchscript`` (otherwise the first one stops the run)."""
    from .runtime import require_devices

    say = progress or (lambda _msg: None)
    folder = ArtifactFolder(out)
    if not folder.root.is_dir():
        raise ArtifactError(f"{folder.manifest_path}: no manifest.json (no such folder)")
    with folder.shared():  # one consistent state while reading, even during an export
        manifest = folder.read_manifest(missing_ok=False)
        if not manifest.entries:
            raise ArtifactError(f"{folder.manifest_path}: manifest lists no artifacts")
        for fmt in {e.format for e in manifest.entries}:
            require_devices(fmt, devices)  # an absent GPU that was asked for: before any verdict
        checks = []
        for entry in manifest.entries:
            say(f"checking parity of {entry.path} ...")
            checks.append(check_entry(folder, entry, tolerance=tolerance or Tolerance(),
                                      seed=seed, collect=False, devices=devices,
                                      trust_torchscript=trust_torchscript))
    record_parity(folder, checks)
    return checks


__all__ = ["Checked", "ExportResult", "entry_for", "export_and_judge", "export_artifact",
           "lint_export", "recheck_folder", "run_parity"]
