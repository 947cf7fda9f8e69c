"""Serve an exported ONNX artifact with numpy and onnxruntime only: no torch, no onnx.

What a deployment gets from :func:`load_artifact` that a bare ``InferenceSession`` does not:
the model file is the one the manifest vouches for (sha256 checked on the very bytes handed to
onnxruntime, before it parses them), a model that failed parity is refused, the provider that
actually runs is verified (onnxruntime silently falls back to the CPU when CUDA libraries are
missing), and a bad input gets an :class:`InputError` naming the expected and the given shape or
dtype instead of an onnxruntime error or, worse, a wrong answer.

This module must stay importable with only numpy and onnxruntime installed (``serving``
extra): it imports nothing that imports torch, onnx or safetensors (tests/test_serving.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts.fields import ParitySummary, TensorRecord, parity_summary, tensor_record
from .artifacts.folder import MAX_FILE_BYTES, ArtifactFolder
from .artifacts.manifest import ManifestEntry
from .errors import ArtifactError, InputError, InvalidSpecError, MissingDependencyError, first_line
from .fileio import sha256_bytes
from .fileio.bounded import read_bounded
from .fileio.onnx_wire import refuse_external_data
from .runtime.graph_match import check_graph
from .runtime.validation import Expected, check_input
from .spec import Device, Format, Layout

ORT_PROVIDER = {Device.CPU: "CPUExecutionProvider", Device.CUDA: "CUDAExecutionProvider"}


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output as the manifest records it; dynamic dims are names."""

    name: str
    dims: tuple[int | str, ...]
    dtype: str
    layout: Layout | None = None

    def __str__(self) -> str:
        lay = f" {str(self.layout).upper()}" if self.layout else ""
        return f"{self.name!r} [{', '.join(str(d) for d in self.dims)}] {self.dtype}{lay}"


@dataclass(frozen=True)
class ParityVerdict:
    """The parity result recorded at export (or by the last ``parity DIR``)."""

    passed: bool
    atol: float
    rtol: float
    checks: int
    worst: dict[str, Any] | None  # the check with the largest needed atol


@dataclass(frozen=True)
class ServedModel:
    """One loaded artifact. ``run`` may be called from many threads at once."""

    path: Path
    sha256: str
    input: TensorInfo
    output: TensorInfo
    parity: ParityVerdict
    provider: str  # what onnxruntime actually runs on, e.g. "CPUExecutionProvider"
    fallback_reason: str | None  # why an earlier device of ``providers`` was not used
    session: Any = field(repr=False)
    precision: str = "fp32"  # fp16 / int8 files: how they were made is in the manifest

    def __post_init__(self) -> None:
        object.__setattr__(self, "_expected", Expected(self.input.layout, self.input.dims))

    def run(self, x: np.ndarray) -> np.ndarray:
        """The model's output for ``x``; a tensor the model cannot take raises InputError
        (an fp16 file with float16 I/O takes float16, every other file float32), and so does
        one too large for this host's memory. Nothing but the package's exceptions leaves: a
        server catching ``ChanAttnError`` sees every refusal."""
        try:
            check_input(x, self._expected, dtypes=(np.dtype(self.input.dtype),))
        except InputError as e:
            raise InputError(f"{e}; {self.path.name} takes {self.input}") from None
        try:
            return self.session.run([self.output.name], {self.input.name: x})[0]
        except Exception as e:  # onnxruntime's own types (Fail, RuntimeException, ...)
            msg = first_line(e)
            if isinstance(e, MemoryError) or "allocat" in msg.lower():
                raise InputError(f"{self.path.name}: an input of shape {x.shape} does not fit "
                                 f"in memory here; send smaller batches (onnxruntime: "
                                 f"{msg[-160:]})") from None
            raise ArtifactError(f"{self.path.name}: onnxruntime failed on an input of shape "
                                f"{x.shape}: {msg}") from None


def load_artifact(folder: str | os.PathLike[str], model: str | None = None,
                  providers: Sequence[str] | str | None = None) -> ServedModel:
    """Load the ONNX artifact ``model`` (file name or model name) of ``folder`` for serving.

    ``providers`` is an ordered preference of devices: ``"cpu"`` (default), ``"cuda"``, or
    ``["cuda", "cpu"]`` (also onnxruntime's names, ``"CUDAExecutionProvider"``). A device
    that cannot run here is an error unless a later one is listed: then the later one runs
    and ``fallback_reason`` says why, so a CPU fallback is never silent.

    The folder is input: every manifest field used is checked first (an error names it), the
    model file is read once, bounded by the size the manifest records, checked against its
    sha256, and only those bytes reach onnxruntime; then the graph's input and output must be
    the manifest's before anything runs. Every refusal is a ``ChanAttnError``.
    """
    art = ArtifactFolder(folder)
    entry = select_entry(art, model)
    path = art.resolve(entry.path)  # a manifest path never leaves the folder
    if not entry.passed:
        raise ArtifactError(f"{path}: parity FAILED at export; refusing to serve it "
                            "(re-export, or inspect the manifest's parity report)")
    inp, out, verdict = _fields(entry, path)
    size = entry.model_file.size
    data = read_bounded(path, MAX_FILE_BYTES if size is None else size, "model file")
    if sha256_bytes(data) != entry.sha256 or (size is not None and len(data) != size):
        raise ArtifactError(f"{path}: sha256 differs from the manifest (file changed or "
                            "corrupted); refusing to load it")
    session, provider, fallback = _session(data, _devices(providers), path)
    layout = entry.model.layout
    served_in = TensorInfo(inp.name, inp.dims, inp.dtype, layout)
    served_out = TensorInfo(out.name, out.dims, out.dtype, layout)
    check_graph(session, served_in, served_out, path)
    return ServedModel(
        path=path, sha256=entry.sha256, input=served_in, output=served_out,
        parity=ParityVerdict(True, _nan(verdict.atol), _nan(verdict.rtol), verdict.checks,
                             verdict.worst),
        provider=provider, fallback_reason=fallback, session=session,
        precision=str(entry.conversion.get("precision", "fp32")))


def _fields(entry: ManifestEntry, path: Path) -> tuple[TensorRecord, TensorRecord,
                                                       ParitySummary]:
    """The manifest's input, output and parity record, checked before any file is read."""
    try:
        inp = tensor_record(entry.inputs, "inputs")
        out = tensor_record(entry.outputs, "outputs", rank=None)
        verdict = parity_summary(entry.parity)
    except ArtifactError as e:
        raise ArtifactError(f"{path}: manifest field {e}") from None
    if inp.dtype not in ("float32", "float16"):
        raise ArtifactError(f"{path}: manifest field inputs[0].dtype is {inp.dtype!r}; "
                            "serving takes float32 inputs (float16 for an fp16 I/O file)")
    if verdict.passed is False:
        raise ArtifactError(f"{path}: the manifest's status says passed but its parity record "
                            "says failed; refusing to serve a contradictory artifact")
    return inp, out, verdict


def _nan(v: float | None) -> float:
    return float("nan") if v is None else v


def select_entry(folder: ArtifactFolder, model: str | None) -> ManifestEntry:
    """The ONNX entry named ``model`` (file name, or model name when only one matches)."""
    root = folder.root
    onnx = [e for e in folder.read_manifest(missing_ok=False).entries
            if e.format is Format.ONNX]
    if model is None:
        matches = onnx
    else:
        matches = [e for e in onnx if model in (e.path, Path(e.path).name)] or \
                  [e for e in onnx if e.model.name == model]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(e.path for e in onnx) or "none"
    if not matches:
        what = f"no ONNX artifact {model!r}" if model else "no ONNX artifact"
        raise ArtifactError(f"{root}: {what} in the manifest (ONNX artifacts: {names})")
    raise ArtifactError(f"{root}: {len(matches)} ONNX artifacts match; pass model= one of: "
                        + ", ".join(e.path for e in matches))


def _devices(providers: Sequence[str] | str | None) -> list[Device]:
    if providers is None:
        return [Device.CPU]
    items = [providers] if isinstance(providers, str) else list(providers)
    by_ort = {v.lower(): k for k, v in ORT_PROVIDER.items()}
    out = []
    for p in items:
        name = str(p).lower()
        dev = by_ort.get(name) or Device.parse(name, "provider (cpu, cuda)")
        out.append(Device(dev))
    if not out:
        raise InvalidSpecError("providers is empty; use 'cpu', 'cuda' or ['cuda', 'cpu']")
    return out


def _session(data: bytes, devices: list[Device], path: Path) -> tuple[Any, str, str | None]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError("serving needs onnxruntime: pip install onnxruntime "
                                     "(onnxruntime-gpu for CUDA)") from None
    refuse_external_data(data, str(path))  # before onnxruntime reads files beside the process
    reasons: list[str] = []
    for dev in devices:
        want = ORT_PROVIDER[dev]
        if want not in ort.get_available_providers():
            reasons.append(f"{dev}: this onnxruntime has no {want} (pip install onnxruntime-gpu)")
            continue
        # TF32 off on CUDA: parity was measured without it, and TF32 is 1e-3 off by design.
        chain: list[Any] = [(want, {"use_tf32": 0}), "CPUExecutionProvider"] \
            if dev is Device.CUDA else [want]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(data, sess_options=opts, providers=chain)
        except Exception as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ArtifactError(f"{path}: onnxruntime cannot load the model: {msg}") from e
        ran = session.get_providers()[0]
        if ran == want:
            return session, ran, "; ".join(reasons) or None
        # onnxruntime-gpu without its CUDA/cuDNN libraries quietly runs on the CPU instead.
        reasons.append(f"{dev}: {want} did not load (CUDA/cuDNN libraries missing?), "
                       f"the session ran on {ran}")
    raise MissingDependencyError(f"{path}: no requested provider can run: {'; '.join(reasons)}")


__all__ = ["ParityVerdict", "ServedModel", "TensorInfo", "load_artifact"]
