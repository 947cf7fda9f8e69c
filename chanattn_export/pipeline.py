"""Compose the steps: spec -> model -> exporter -> parity -> artifact folder.

The CLI and the public API both call these functions; each step stays in its own module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import ArtifactFolder, sha256_bytes
from .environment import versions
from .errors import ArtifactError, InvalidSpecError
from .export import export_bytes
from .parity import ParityReport, judge, make_cases, measure
from .registry import build_model
from .spec import ExportSpec, Format, InputSpec, ModelSpec, Tolerance

Progress = Callable[[str], None]
DEFAULT_TOLERANCE = Tolerance()


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

    @property
    def passed(self) -> bool:
        return self.parity.passed


def run_parity(net, fmt: Format, data: bytes, model: ModelSpec, inp: InputSpec,
               tolerance: Tolerance, seed: int = 0) -> ParityReport:
    """Every available backend for ``fmt`` against eager ``net`` on the standard cases."""
    from .runtime import EagerRunner, runners_for
    from .validation import Expected

    cases = make_cases(model, inp, seed)
    expected = Expected.from_spec(model, inp)
    candidates = runners_for(fmt, data, net, expected)
    return judge(measure(EagerRunner(net, expected=expected), candidates, cases), tolerance, seed)


def export_artifact(spec: ExportSpec, out: str | os.PathLike[str] = "artifacts", *,
                    weights: str | os.PathLike[str] | None = None, seed: int = 0,
                    tolerance: Tolerance = DEFAULT_TOLERANCE, parity_seed: int = 0,
                    progress: Progress | None = None) -> ExportResult:
    """Build, export, check parity and commit one artifact; the manifest records the verdict."""
    from .weights import state_dict_bytes

    say = progress or (lambda _msg: None)
    folder = ArtifactFolder(out)
    net = build_model(spec.model, weights, seed)  # bad weights: fail before creating anything
    folder.ensure()  # a read-only folder fails before the export work
    weights_data = state_dict_bytes(net, {"model": spec.model.name})
    # The eager reference is rebuilt from the stored bytes, exactly as `parity DIR` will.
    net = build_model(spec.model, weights_data)
    say(f"exporting {spec.filename} ...")
    t0 = time.perf_counter()
    exported = export_bytes(net, spec)
    data, exporter, fallback = exported.data, exported.exporter, exported.fallback_reason
    seconds = time.perf_counter() - t0
    say(f"checking parity of {spec.filename} ...")
    report = run_parity(net, spec.format, data, spec.model, spec.input, tolerance, parity_seed)
    weights_sha = sha256_bytes(weights_data)
    weights_rel = f"{spec.model.stem}.{weights_sha[:12]}.safetensors"
    entry = make_entry(spec, data, exporter, weights_rel, weights_sha, report)
    folder.commit(entry, {spec.filename: data, weights_rel: weights_data})
    return ExportResult(spec, folder.root / spec.filename, entry["sha256"], len(data),
                        folder.root / weights_rel, exporter, seconds, report, fallback)


def make_entry(spec: ExportSpec, data: bytes, exporter: str, weights_rel: str,
               weights_sha: str, report: ParityReport) -> dict[str, Any]:
    from .export.onnx import INPUT_NAME, OUTPUT_NAME
    from .registry import get_model_info

    m, inp = spec.model, spec.input
    sha = sha256_bytes(data)
    in_dims = inp.dims(m.layout, m.channels)
    out_kind = get_model_info(m.name).output
    out_dims: list[int | str] = list(in_dims)
    if out_kind == "gate":
        for i in m.layout.spatial_axes:
            out_dims[i] = 1
    return {
        "path": spec.filename,
        "sha256": sha,
        "status": "passed" if report.passed else "failed",
        "format": str(spec.format),
        "exporter": exporter,
        "opset": spec.opset if spec.format is Format.ONNX else None,
        "model": m.to_dict(),
        "input": inp.to_dict(),
        "inputs": [{"name": INPUT_NAME, "dtype": "float32", "dims": in_dims,
                    "shape": list(inp.shape(m.layout, m.channels))}],
        "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "dims": out_dims, "kind": out_kind}],
        "files": [
            {"path": spec.filename, "sha256": sha, "role": "model", "size": len(data)},
            {"path": weights_rel, "sha256": weights_sha, "role": "weights"},
        ],
        "weights": weights_rel,
        "versions": versions(),
        "parity": report.to_dict(),
    }


@dataclass(frozen=True)
class RecheckResult:
    path: str
    sha256: str
    format: Format
    parity: ParityReport


def recheck_folder(out: str | os.PathLike[str], *, tolerance: Tolerance | None = None,
                   seed: int = 0, progress: Progress | None = None) -> list[RecheckResult]:
    """Re-run parity for every entry of a folder's manifest, from its files and weights.

    The eager reference comes from the weights file, never from the model file, so a model
    whose weights were altered fails even if its checksum in the manifest was rewritten too.
    """
    say = progress or (lambda _msg: None)
    folder = ArtifactFolder(out)
    manifest = folder.read_manifest(missing_ok=False)
    if not manifest["artifacts"]:
        raise ArtifactError(f"{folder.manifest_path}: manifest lists no artifacts")
    results = []
    for entry in manifest["artifacts"]:
        files = {f["path"]: f for f in entry["files"]}
        model_data = _read_checked(folder, entry["path"], entry["sha256"])
        w = files.get(entry.get("weights", ""))
        if w is None:
            raise ArtifactError(f"{entry['path']}: manifest entry names no weights file")
        weights_data = _read_checked(folder, w["path"], w["sha256"])
        try:
            spec = ModelSpec.from_dict(entry["model"])
            inp = InputSpec.from_dict(entry["input"])
            fmt = Format.parse(entry["format"], "format")
        except (InvalidSpecError, KeyError, TypeError) as e:
            raise ArtifactError(f"{entry['path']}: manifest spec is invalid: {e}") from None
        tol = tolerance or Tolerance(entry["parity"]["atol"], entry["parity"]["rtol"])
        say(f"checking parity of {entry['path']} ...")
        net = build_model(spec, weights_data)
        report = run_parity(net, fmt, model_data, spec, inp, tol, seed)
        results.append(RecheckResult(entry["path"], entry["sha256"], fmt, report))

    by_path = {r.path: r for r in results}

    def record(m: dict[str, Any]) -> None:
        for a in m["artifacts"]:
            r = by_path.get(a["path"])
            if r is not None and a["sha256"] == r.sha256:  # still the file we checked
                a["parity"] = r.parity.to_dict()
                a["status"] = "passed" if r.parity.passed else "failed"

    folder.update_manifest(record)
    return results


def _read_checked(folder: ArtifactFolder, rel: str, sha: str) -> bytes:
    """File bytes, after checking them against the manifest (before anything loads them)."""
    path = folder.resolve(rel)
    if not path.is_file():
        raise ArtifactError(f"{rel}: file named in the manifest is missing")
    data = path.read_bytes()
    if sha256_bytes(data) != sha:
        raise ArtifactError(f"{rel}: sha256 differs from the manifest (file changed or corrupted)")
    return data


__all__ = ["ExportResult", "RecheckResult", "export_artifact", "recheck_folder"]
