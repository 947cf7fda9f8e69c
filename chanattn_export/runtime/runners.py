"""Eager, TorchScript and onnxruntime runners behind one ``infer(x) -> y`` interface.

Each runner validates its input first (:func:`check_input`): a bad tensor gets the toolkit's
:class:`InputError`, never a backend's own error. On CUDA every call runs with TF32 off (parity
is what these runners serve), and the user's TF32 settings are restored afterwards.
"""

from __future__ import annotations

import contextlib
import io
from typing import Protocol

import numpy as np

from ..errors import ArtifactError, InputError, MissingDependencyError
from ..fileio.onnx_wire import refuse_external_data
from ..spec import Backend, Device
from . import devices
from .devices import tf32_disabled
from .validation import Expected, check_input


class Runner(Protocol):
    name: str

    def infer(self, x: np.ndarray) -> np.ndarray: ...


class _TorchRunner:
    backend: Backend

    def __init__(self, module, device: Device | str, expected: Expected | None = None) -> None:
        import torch

        self._torch = torch
        self.device = Device.parse(device, "device")
        self.expected = expected
        if self.device is Device.CUDA and not devices.cuda_available():
            raise MissingDependencyError(
                f"device cuda requested but torch {torch.__version__} sees no CUDA GPU"
            )
        self.module = module.to(self.device.value).eval()
        self.name = self.backend.on(self.device)

    def infer(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        check_input(x, self.expected)
        on_cuda = self.device is Device.CUDA
        try:
            with tf32_disabled() if on_cuda else contextlib.nullcontext(), \
                    torch.inference_mode():
                y = self.module(torch.from_numpy(x).to(self.device.value))
        except (RuntimeError, MemoryError) as e:  # torch.jit's errors are RuntimeErrors
            raise run_error(self.name, x, e) from None
        return y.detach().cpu().numpy()


class EagerRunner(_TorchRunner):
    backend = Backend.EAGER

    def __init__(self, module, device: Device | str = Device.CPU,
                 expected: Expected | None = None) -> None:
        super().__init__(module, device, expected)


class TorchScriptRunner(_TorchRunner):
    """A saved TorchScript file. It is a program: load only files you trust (see verify)."""

    backend = Backend.TORCHSCRIPT

    def __init__(self, data: bytes, device: Device | str = Device.CPU,
                 expected: Expected | None = None) -> None:
        dev = Device.parse(device, "device")
        module = load_torchscript(data, dev)
        super().__init__(module, dev, expected)


def load_torchscript(data: bytes, device: Device | str = Device.CPU):
    """A saved TorchScript file loaded straight onto ``device`` (eval mode).

    A frozen module's weights are constants that ``.to()`` does not move, so the file is loaded
    with ``map_location`` instead. It is a program: load only files you trust (see verify).
    """
    import torch

    from ..errors import first_line
    from ..quiet import quiet

    dev = Device.parse(device, "device")
    if dev is Device.CUDA and not devices.cuda_available():
        raise MissingDependencyError("device cuda requested but torch sees no CUDA GPU")
    try:
        with quiet():
            module = torch.jit.load(io.BytesIO(data), map_location=dev.value)
    except Exception as e:
        raise ArtifactError(f"cannot load TorchScript module: {first_line(e)}") from e
    return module.eval()


def open_ort_session(data: bytes, device: Device | str = Device.CPU, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` for ONNX bytes on ``device``, really on it.

    ``threads`` sets ``intra_op_num_threads`` (None: onnxruntime's default). On CUDA the session
    must actually run on the CUDA provider: onnxruntime falls back to the CPU silently when its
    CUDA libraries are missing, and that is an error here, never a "cuda" result.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError(
            "onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)"
        ) from None
    dev = Device.parse(device, "device")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    if dev is Device.CUDA:
        if not devices.ort_cuda_available():
            raise MissingDependencyError("onnxruntime has no CUDAExecutionProvider here")
        providers: list = [("CUDAExecutionProvider", {"use_tf32": 0}), "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    refuse_external_data(data)  # before onnxruntime reads files next to the process
    try:
        session = ort.InferenceSession(data, sess_options=opts, providers=providers)
    except Exception as e:
        from ..errors import first_line

        raise ArtifactError(f"onnxruntime cannot load the model: {first_line(e)}") from e
    if dev is Device.CUDA and session.get_providers()[0] != "CUDAExecutionProvider":
        # Built with CUDA but its libraries are missing: onnxruntime fell back to the CPU.
        raise MissingDependencyError(
            "onnxruntime's CUDA provider did not load (CUDA/cuDNN libraries missing?); "
            f"the session runs on {session.get_providers()[0]}"
        )
    return session


class OrtRunner:
    backend = Backend.ONNXRUNTIME

    def __init__(self, data: bytes, device: Device | str = Device.CPU, threads: int | None = None,
                 expected: Expected | None = None) -> None:
        dev = Device.parse(device, "device")
        self.session = open_ort_session(data, dev, threads)
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.output_name = self.session.get_outputs()[0].name
        # Without a spec, the graph's own fixed dims (channels, static H/W) are the rules.
        self.expected = expected or Expected.from_onnx_shape(first.shape)
        self.device = dev
        self.name = self.backend.on(dev)

    def infer(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self.expected)
        try:
            return self.session.run(None, {self.input_name: x})[0]
        except Exception as e:  # onnxruntime's own exception types (Fail, RuntimeException, ...)
            raise run_error(self.name, x, e) from None


def run_error(backend: str, x: np.ndarray, e: BaseException) -> InputError:
    """A backend's own error while running ``x`` as the toolkit's one-line error: out of
    memory says so and names the batch; anything else names the shape the model refused."""
    from ..errors import first_line

    text = first_line(e)
    if isinstance(e, MemoryError) or "alloc" in text.lower() or "out of memory" in text.lower():
        return InputError(f"{backend}: a batch of shape {list(x.shape)} ({x.nbytes / 1e9:.2g} "
                          f"GB in) does not fit in memory ({text}); use a smaller batch")
    return InputError(f"{backend} refused input of shape {list(x.shape)} {x.dtype}: {text}")


__all__ = ["EagerRunner", "OrtRunner", "Runner", "TorchScriptRunner", "load_torchscript",
           "open_ort_session"]
