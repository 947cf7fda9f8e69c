"""Eager, TorchScript and onnxruntime runners behind one interface.

TF32 is switched off on CUDA: these runners serve parity, and TF32 convolutions would be
1e-3 off float32 by design, hiding real export errors behind a loose tolerance.
"""

from __future__ import annotations

import io
from typing import Protocol

import numpy as np

from ..errors import ArtifactError, MissingDependencyError
from ..spec import Format
from ..validation import Expected, check_input

ONNX_CPU, ONNX_CUDA = "onnxruntime-cpu", "onnxruntime-cuda"
TS_CPU, TS_CUDA = "torchscript-cpu", "torchscript-cuda"
EAGER_CPU, EAGER_CUDA = "eager-cpu", "eager-cuda"


class Runner(Protocol):
    name: str

    def infer(self, x: np.ndarray) -> np.ndarray: ...


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def ort_cuda_available() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def backends_for(fmt: Format) -> list[str]:
    """Backends that can run ``fmt`` on this machine, CPU first."""
    if fmt is Format.ONNX:
        return [ONNX_CPU] + ([ONNX_CUDA] if ort_cuda_available() else [])
    return [TS_CPU] + ([TS_CUDA, EAGER_CUDA] if cuda_available() else [])


class _TorchRunner:
    def __init__(self, module, device: str, expected: Expected | None = None) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self.expected = expected
        if self.device.type == "cuda":
            if not cuda_available():
                raise MissingDependencyError(
                    f"device {device!r} requested but torch {torch.__version__} sees no CUDA GPU"
                )
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.module = module.to(self.device).eval()

    def infer(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        check_input(x, self.expected)
        with torch.inference_mode():
            y = self.module(torch.from_numpy(x).to(self.device))
        return y.detach().cpu().numpy()


class EagerRunner(_TorchRunner):
    def __init__(self, module, device: str = "cpu", expected: Expected | None = None) -> None:
        super().__init__(module, device, expected)
        self.name = EAGER_CPU if self.device.type == "cpu" else EAGER_CUDA


class TorchScriptRunner(_TorchRunner):
    def __init__(self, data: bytes, device: str = "cpu", expected: Expected | None = None) -> None:
        import torch

        from ..export._quiet import first_line, quiet

        try:
            with quiet():
                module = torch.jit.load(io.BytesIO(data), map_location="cpu")
        except Exception as e:
            raise ArtifactError(f"cannot load TorchScript module: {first_line(e)}") from e
        super().__init__(module, device, expected)
        self.name = TS_CPU if self.device.type == "cpu" else TS_CUDA


class OrtRunner:
    def __init__(self, data: bytes, device: str = "cpu", threads: int | None = None,
                 expected: Expected | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependencyError(
                "onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)"
            ) from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        if device == "cuda":
            if not ort_cuda_available():
                raise MissingDependencyError("onnxruntime has no CUDAExecutionProvider here")
            providers: list = [("CUDAExecutionProvider", {"use_tf32": 0}), "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(data, sess_options=opts, providers=providers)
        except Exception as e:
            from ..export._quiet import first_line

            raise ArtifactError(f"onnxruntime cannot load the model: {first_line(e)}") from e
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        # Without a spec, the graph's own fixed dims (channels, static H/W) are the rules.
        self.expected = expected or Expected.from_onnx_shape(first.shape)
        self.name = ONNX_CUDA if device == "cuda" else ONNX_CPU

    def infer(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self.expected)
        return self.session.run(None, {self.input_name: x})[0]


def make_runner(backend: str, data: bytes, expected: Expected | None = None) -> Runner:
    """Runner for an exported file's bytes on ``backend`` (one of :func:`backends_for`)."""
    if backend in (ONNX_CPU, ONNX_CUDA):
        return OrtRunner(data, "cuda" if backend == ONNX_CUDA else "cpu", expected=expected)
    if backend in (TS_CPU, TS_CUDA):
        return TorchScriptRunner(data, "cuda" if backend == TS_CUDA else "cpu", expected)
    raise ValueError(f"backend {backend!r} does not run exported files")
