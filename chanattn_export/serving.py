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

from .artifacts.folder import ArtifactFolder
from .artifacts.manifest import ManifestEntry
from .errors import ArtifactError, InputError, InvalidSpecError, MissingDependencyError
from .fileio import sha256_bytes
from .fileio.onnx_wire import refuse_external_data
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
        (an fp16 file with float16 I/O takes float16, every other file float32)."""
        try:
            check_input(x, self._expected, dtypes=(np.dtype(self.input.dtype),))
        except InputError as e:
            raise InputError(f"{e}; {self.path.name} takes {self.input}") from None
        return self.session.run([self.output.name], {self.input.name: x})[0]


def load_artifact(folder: str | os.PathLike[str], model: str | None = None,
                  providers: Sequence[str] | str | None = None) -> ServedModel:
    """Load the ONNX artifact ``model`` (file name or model name) of ``folder`` for serving.

    ``providers`` is an ordered preference of devices: ``"cpu"`` (default), ``"cuda"``, or
    ``["cuda", "cpu"]`` (also onnxruntime's names, ``"CUDAExecutionProvider"``). A device
    that cannot run here is an error unless a later one is listed: then the later one runs
    and ``fallback_reason`` says why, so a CPU fallback is never silent.
    """
    art = ArtifactFolder(folder)
    entry = select_entry(art, model)
    path = art.resolve(entry.path)  # a manifest path never leaves the folder
    if not entry.passed:
        raise ArtifactError(f"{path}: parity FAILED at export; refusing to serve it "
                            "(re-export, or inspect the manifest's parity report)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read the model file: {e.strerror or e}") from None
    if sha256_bytes(data) != entry.sha256:
        raise ArtifactError(f"{path}: sha256 differs from the manifest (file changed or "
                            "corrupted); refusing to load it")
    session, provider, fallback = _session(data, _devices(providers), path)
    got = session.get_inputs()[0]
    inp, out, layout = entry.inputs[0], entry.outputs[0], entry.model.layout
    dtype = inp.get("dtype", "float32")
    if got.name != inp["name"] or len(got.shape) != len(inp["dims"]) \
            or got.type != f"tensor({'float' if dtype == 'float32' else dtype})":
        raise ArtifactError(f"{path}: the graph's input {got.name} {got.shape} {got.type} is "
                            f"not the manifest's {inp['name']} {inp['dims']} {dtype}")
    return ServedModel(
        path=path, sha256=entry.sha256,
        input=TensorInfo(inp["name"], tuple(inp["dims"]), dtype, layout),
        output=TensorInfo(out["name"], tuple(out["dims"]), out.get("dtype", "float32"), layout),
        parity=_verdict(entry.parity), provider=provider, fallback_reason=fallback,
        session=session, precision=str(entry.conversion.get("precision", "fp32")))


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


def _verdict(parity: dict[str, Any]) -> ParityVerdict:
    checks = parity.get("checks") or []
    worst = max(checks, key=lambda c: (not c.get("passed"), float(c.get("needed_atol", 0)),
                                       float(c.get("max_abs", 0))), default=None)
    return ParityVerdict(bool(parity.get("passed")), float(parity.get("atol", "nan")),
                         float(parity.get("rtol", "nan")), len(checks), worst)


__all__ = ["ParityVerdict", "ServedModel", "TensorInfo", "load_artifact"]
