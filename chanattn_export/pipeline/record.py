"""What the manifest records of a judged export, and the evidence file beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..artifacts import FileRecord, ManifestEntry, sha256_bytes
from ..artifacts.evidence import (
    REFERENCE,
    decode_reference,
    encode_reference,
    reference_name,
    select_evidence,
)
from ..check.localize_failure import FailureLocalization
from ..check.parity import InputCase, ParityReport
from ..environment import versions
from ..errors import ArtifactError
from ..export import Exported
from ..export.lint import LintProblem
from ..export.subject import Subject
from ..spec import OUTPUT_NAME, ExportSpec, Format


def evidence_file(spec: ExportSpec, cases: Sequence[InputCase], outputs: Sequence[np.ndarray],
              seed: int) -> bytes:
    """The evidence file's bytes, checked to decode back to exactly what was measured."""
    names, inputs = [c.name for c in cases], [c.x for c in cases]
    keep = select_evidence(names, inputs, outputs, spec.input.trace_batch)
    data = encode_reference([names[i] for i in keep], [inputs[i] for i in keep],
                            [outputs[i] for i in keep], model=spec.model.name, seed=seed)
    back = decode_reference(data)
    if not all(np.array_equal(a, outputs[i], equal_nan=True)
               for a, i in zip(back.outputs, keep, strict=True)):
        raise ArtifactError(f"{spec.filename}: the evidence file does not read back as written")
    return data


def entry_for(subject: Subject, exported: Exported, report: ParityReport,
              lint: Sequence[LintProblem], evidence: bytes, outputs: Sequence[np.ndarray],
              cases: Sequence[InputCase],
              localized: FailureLocalization | None = None) -> ManifestEntry:
    """The manifest record of a judged export: model, weights (``<stem>.<sha[:12]>``) and
    evidence (``<stem>.reference.<sha[:12]>``) content-addressed; failed when parity or the
    lint failed."""
    spec, weights = subject.spec, subject.weights
    w_sha, r_sha = sha256_bytes(weights), sha256_bytes(evidence)
    r_rel = reference_name(spec.model.stem, r_sha)
    entry = ManifestEntry.create(
        path=spec.filename, data_sha256=sha256_bytes(exported.data), size=len(exported.data),
        fmt=spec.format, model=spec.model, inp=spec.input,
        output_kind=subject.output_kind or "applied",
        weights=f"{spec.model.stem}.{w_sha[:12]}.safetensors", weights_sha256=w_sha,
        exporter=exported.exporter, opset=spec.opset if spec.format is Format.ONNX else None,
        versions=versions(),
        parity={**report.to_dict(), **({"lint": [p.to_dict() for p in lint]} if lint else {}),
                **(localized.to_dict() if localized else {})},
        passed=report.passed and not lint, fallback_reason=exported.fallback_reason,
        weights_size=len(weights))
    seen = () if subject.output_kind else (_output_record(outputs, cases),)
    return replace(entry, files=(*entry.files, FileRecord(r_rel, r_sha, REFERENCE,
                                                          len(evidence))),
                   outputs=seen or entry.outputs, source=subject.source, reference=r_rel,
                   rewrites=getattr(exported, "rewrites", ()))


def _output_record(outputs: Sequence[np.ndarray], cases: Sequence[InputCase]) -> dict[str, Any]:
    """The output's dims as seen over the parity cases: fixed where they never changed."""
    shapes = [y.shape for y in outputs]
    dims: list[int | str] = []
    for i in range(min(len(s) for s in shapes)):
        seen = {s[i] for s in shapes}
        batch = i == 0 and all(s[0] == c.x.shape[0] for s, c in zip(shapes, cases, strict=True))
        dims.append(seen.pop() if len(seen) == 1 else "batch" if batch else f"out_{i}")
    return {"name": OUTPUT_NAME, "dtype": "float32", "dims": dims}



__all__ = ["entry_for", "evidence_file"]
