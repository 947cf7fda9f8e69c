"""Portable parity evidence: the parity inputs and eager outputs in Polygraphy's JSON format.

This toolkit runs parity on onnxruntime and TorchScript only. Saving the very inputs it used and
the eager outputs lets a user re-check an artifact on a runtime we do not run (TensorRT,
OpenVINO, another onnxruntime build) with ``polygraphy run model.onnx --onnxrt --load-inputs
inputs.json --load-outputs outputs.json``. The eager reference is rebuilt from the folder's
weights file, exactly as ``parity DIR`` does, never from the model file; a user network's
(which has no code here) comes from the reference file stored with it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import ArtifactFolder, ManifestEntry
from ..artifacts.evidence import USER, decode_reference
from ..artifacts.folder import MAX_FILE_BYTES
from ..errors import ArtifactError, MissingDependencyError
from ..fileio import sha256_bytes, write_atomic
from ..fileio.bounded import read_bounded
from ..spec import Format, Tolerance
from .cases import CASES, make_cases
from .parity import InputCase, input_scale

SCHEMA = "chanattn_export.reference/1"
RUNNER_NAME = "eager-cpu (chanattn_export)"
INPUTS, OUTPUTS, INDEX = "inputs.json", "outputs.json", "reference.json"


@dataclass(frozen=True)
class SavedReference:
    artifact: str
    folder: Path  # holds inputs.json, outputs.json, reference.json
    command: str | None  # the polygraphy command that re-checks it (ONNX only)


def _polygraphy() -> tuple[Any, Any, Any]:
    try:
        from polygraphy.comparator import IterationResult, RunResults
        from polygraphy.json import to_json
    except ImportError:
        raise MissingDependencyError(
            "--save-reference writes Polygraphy's format and needs it: pip install polygraphy "
            "(or the package's 'reference' extra)") from None
    return IterationResult, RunResults, to_json


def polygraphy_tolerance(tol: Tolerance, scales: list[float]) -> tuple[float, float]:
    """One (atol, rtol) for ``polygraphy run`` that accepts whatever this toolkit's bound does.

    Ours: ``|a - e| <= atol * scale + rtol * |e|`` per input; Polygraphy's default elementwise
    check passes where ``|a - e| <= atol`` OR ``|a - e| / |e| <= rtol``. A sum of two terms is at
    most twice the larger one, so doubling both (atol at the largest input scale) is enough.
    """
    return 2 * tol.atol * max(scales, default=1.0), 2 * tol.rtol


def save_reference(dest: str | os.PathLike[str], folder: str | os.PathLike[str],
                   paths: list[str] | None = None, *, tolerance: Tolerance | None = None,
                   seed: int = 0) -> list[SavedReference]:
    """Write ``dest/<artifact>/{inputs,outputs,reference}.json`` for entries of ``folder``.

    ``tolerance`` (default: the toolkit's) sets the suggested Polygraphy tolerances; like
    ``parity DIR``, a tolerance stored in the manifest is never trusted.
    """
    IterationResult, RunResults, to_json = _polygraphy()
    from ..registry import build_model
    from ..runtime import EagerRunner

    art = ArtifactFolder(folder)
    entries = art.read_manifest(missing_ok=False).entries
    if paths is not None:
        entries = tuple(e for e in entries if e.path in paths)
    tol = tolerance or Tolerance()
    saved = []
    for entry in entries:
        if entry.source == USER:  # no code to rebuild: the evidence stored at export
            ref = decode_reference(_weights(art, entry, entry.reference))
            cases = [InputCase(n, x) for n, x in zip(ref.names, ref.inputs, strict=True)]
            outputs = list(ref.outputs)
        else:
            runner = EagerRunner(build_model(entry.model, _weights(art, entry)))
            cases = make_cases(entry.model, entry.input, seed, CASES)
            outputs = [runner.infer(c.x) for c in cases]
        out_dir = Path(dest) / Path(entry.path).name
        feeds = [{"input": c.x} for c in cases]
        results = RunResults([(RUNNER_NAME, [IterationResult({"output": y}, runner_name=RUNNER_NAME)
                                             for y in outputs])])
        write_atomic(out_dir / INPUTS, to_json(feeds).encode(), make_parents=True)
        write_atomic(out_dir / OUTPUTS, results.to_json().encode())
        atol, rtol = polygraphy_tolerance(tol, [input_scale(c.x) for c in cases])
        model_file = art.resolve(entry.path)
        command = None
        if entry.format is Format.ONNX:
            command = (f"polygraphy run {model_file} --onnxrt --load-inputs {out_dir / INPUTS} "
                       f"--load-outputs {out_dir / OUTPUTS} --atol {atol:.3g} --rtol {rtol:.3g}")
        index = {
            "schema": SCHEMA, "artifact": entry.path, "sha256": entry.sha256,
            "weights": entry.weights, "seed": seed,
            "tolerance": {"atol": tol.atol, "rtol": tol.rtol},
            "polygraphy_tolerance": {"atol": atol, "rtol": rtol},
            "cases": [{"case": c.name, "shape": list(c.x.shape), "scale": input_scale(c.x),
                       "output_shape": list(y.shape)} for c, y in zip(cases, outputs, strict=True)],
            "trt_shapes": _trt_shapes(cases) if command else None,
            "command": command,
        }
        write_atomic(out_dir / INDEX, (json.dumps(index, indent=2) + "\n").encode())
        saved.append(SavedReference(entry.path, out_dir, command))
    return saved


def _weights(art: ArtifactFolder, entry: ManifestEntry, rel: str | None = None) -> bytes:
    """The entry's weights file (or its file ``rel``), after its checksum matched (the eager
    reference's source)."""
    w = next(f for f in entry.files if f.path == rel) if rel else entry.weights_file
    path = art.resolve(w.path)
    if not path.exists():
        raise ArtifactError(f"{w.path}: {w.role or 'file'} named in the manifest is missing")
    data = read_bounded(path, min(w.size or MAX_FILE_BYTES, MAX_FILE_BYTES), w.role or "file")
    if sha256_bytes(data) != w.sha256:
        raise ArtifactError(f"{w.path}: sha256 differs from the manifest")
    return data


def _trt_shapes(cases: list) -> dict[str, str]:
    """min/opt/max profile for ``--trt``: TensorRT needs every shape the inputs use covered."""
    shapes = np.array([c.x.shape for c in cases])
    lo, hi = shapes.min(0).tolist(), shapes.max(0).tolist()
    fmt = lambda s: "input:[" + ",".join(str(d) for d in s) + "]"  # noqa: E731
    return {"--trt-min-shapes": fmt(lo), "--trt-opt-shapes": fmt(hi), "--trt-max-shapes": fmt(hi)}


__all__ = ["SCHEMA", "SavedReference", "polygraphy_tolerance", "save_reference"]
