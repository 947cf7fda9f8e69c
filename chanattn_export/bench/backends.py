"""A backend opened on one device for one model, and each of its cases made ready to time.

The CLI's sweep and the pytest-benchmark suite in ``benchmarks/`` both open backends here, so
both time the very same callable. Sessions, TorchScript modules and torch.export programs come
from the runtime's public loaders (:func:`~chanattn_export.runtime.open_ort_session`,
:func:`~chanattn_export.runtime.load_torchscript`, :func:`~chanattn_export.runtime.load_program`),
the ones the parity checks use. Why each timing rule exists is in docs/benchmarks.md, "Why the
timing rules".
"""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ChanAttnError, MissingDependencyError
from ..runtime.devices import torch_threads
from ..spec import Backend, Device, DType, ExportSpec, Format, InputSpec, Layout, Precision
from .config import rotation_buffers
from .roofline import last_level_cache_bytes
from .timing import time_calls, time_cuda_events


class SkipCase(ChanAttnError):
    """This backend cannot run this case here; the reason goes into the record."""


def describe_error(e: BaseException) -> str:
    """``"RuntimeError: first line"``: what a failed case records."""
    from ..errors import first_line

    return f"{type(e).__name__}: {first_line(e)}"[:300]


def pin_host_memory(device: Device, include_transfer: bool) -> bool:
    """Host inputs go in pinned memory exactly when host-to-device copies are timed.

    The same rule for every backend: torch and onnxruntime read the same kind of host memory,
    so a transfer-inclusive comparison does not favour one of them.
    """
    return device is Device.CUDA and include_transfer


@dataclass
class ModelArtifacts:
    """One model built once: the eager module and its exported files (exported on demand)."""

    name: str
    channels: int
    height: int
    width: int
    layout: Layout
    output: str = ""
    net: Any = None
    spec: Any = None  # the ModelSpec the files are exported from
    _files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def build(cls, name: str, channels: int = 64, height: int = 56, width: int = 56,
              layout: Layout = Layout.NCHW, seed: int = 0) -> ModelArtifacts:
        from ..registry import build_model, get_model_info, make_spec

        info = get_model_info(name)
        spec = make_spec(name, channels, layout=layout)
        return cls(name, channels, height, width, layout, info.output,
                   build_model(spec, seed=seed), spec)

    def file(self, fmt: Format, precision: Precision = Precision.FP32) -> bytes:
        """The file users ship: the package's exporters, and its fp16/int8 conversion."""
        key = fmt.value if precision is Precision.FP32 else f"{fmt.value}-{precision}"
        if key not in self._files:
            from ..export import export_bytes
            from ..pipeline.precision import reduced_file

            spec = ExportSpec(model=self.spec, format=fmt, precision=precision, input=InputSpec(
                batch=2, height=self.height, width=self.width))
            self._files[key] = export_bytes(self.net, spec).data if precision is \
                Precision.FP32 else reduced_file(spec, self.net, self.file(fmt))
        return self._files[key]

    @property
    def exported(self) -> list[str]:
        """Formats exported so far (the suite settles after an export, as the sweep does)."""
        return list(self._files)

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        return InputSpec(height=self.height, width=self.width).shape(
            self.layout, self.channels, batch)


@dataclass
class Prepared:
    """One case ready to time: ``step()`` is one forward pass; ``sync`` closes device work."""

    step: Callable[[], object]
    sync: Callable[[], None] | None
    timer: str  # "perf_counter", "perf_counter+sync" or "cuda-events"
    buffers: int
    context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext

    def synced_step(self) -> None:
        """``step`` with the device synchronised: for timers that cannot see device work."""
        self.step()
        if self.sync is not None:
            self.sync()

    def timer_for(self, clock: str) -> str:
        """The label of what is measured when an outside ``clock`` times :meth:`synced_step`."""
        return f"{clock}+sync" if self.sync is not None else clock

    def time(self, warmup: int, repeats: int) -> list[float]:
        """Raw seconds per call, with the timer this case's device needs."""
        with self.context():
            if self.timer == "cuda-events":
                return time_cuda_events(self.step, warmup, repeats)
            return time_calls(self.step, warmup, repeats, sync=self.sync)


def _cycle(items: list[Any]) -> Callable[[], Any]:
    it = itertools.cycle(items)
    return lambda: next(it)


class BackendHandle:
    """A backend opened on one device for one model; :meth:`case` prepares one batch size."""

    def __init__(self, art: ModelArtifacts, backend: Backend, device: Device, dtype: DType,
                 threads: int, rotate_inputs: bool = False,
                 include_transfer: bool = False,
                 precision: Precision = Precision.FP32) -> None:
        import torch

        self.art, self.backend = art, Backend.parse(backend, "backend")
        self.device, self.dtype = Device.parse(device, "device"), DType.parse(dtype, "dtype")
        self.threads, self.rotate, self.transfer = threads, rotate_inputs, include_transfer
        self.pin_host = pin_host_memory(self.device, include_transfer)
        self._torch = torch
        self.compile_s: float | None = None
        self.precision = Precision.parse(precision, "precision")
        if self.precision is not Precision.FP32 and self.backend is not Backend.ONNXRUNTIME:
            raise SkipCase(f"{self.precision} files are ONNX files: onnxruntime only")
        if self.device is Device.CUDA and not torch.cuda.is_available():
            raise SkipCase("no CUDA device")
        if self.dtype is DType.FLOAT16 and self.device is Device.CPU:
            raise SkipCase("float16 runs on CUDA only")
        self.module: Any = None
        self.session: Any = None
        with torch_threads(threads):
            if self.backend is Backend.ONNXRUNTIME:
                self._open_ort()
            else:
                self._open_torch()

    # -- opening ------------------------------------------------------------------------------
    def _open_torch(self) -> None:
        dev = self.device.value
        if self.backend is Backend.TORCHSCRIPT:
            if self.dtype is DType.FLOAT16:
                raise SkipCase("TorchScript file is traced and frozen in float32; "
                               "its constants cannot be cast to float16")
            from ..runtime import load_torchscript

            self.module = load_torchscript(self.art.file(Format.TORCHSCRIPT), self.device)
            return
        if self.backend is Backend.TORCH_EXPORT:
            self._open_program()
            return
        net = copy.deepcopy(self.art.net).to(dev)
        if self.dtype is DType.FLOAT16:
            net = net.half()
        if self.backend is Backend.COMPILE:
            try:
                net = self._torch.compile(net)
            except Exception as e:  # compile is best effort: record why, run the rest
                raise SkipCase(f"torch.compile failed: {describe_error(e)}") from e
        self.module = net

    def _open_program(self) -> None:
        """The ``.pt2`` file ``chanattn_export pt2`` writes, loaded as parity loads it."""
        if self.device is not Device.CPU:
            raise SkipCase("torch.export programs are exported and checked on the CPU only")
        if self.dtype is not DType.FLOAT32:
            raise SkipCase("the torch.export program is exported in float32")
        from ..runtime import load_program

        self.module = load_program(self.art.file(Format.PT2))

    def _open_ort(self) -> None:
        from ..runtime import open_ort_session, ort_cuda_available

        if self.device is Device.CUDA and not ort_cuda_available():
            raise SkipCase("onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
        data = self.art.file(Format.ONNX, self.precision)
        if self.dtype is DType.FLOAT16 and self.precision is Precision.FP32:
            from .float16 import to_float16

            data = to_float16(data)
        try:
            self.session = open_ort_session(data, self.device, self.threads)
        except MissingDependencyError as e:  # e.g. the CUDA provider fell back to the CPU
            raise SkipCase(str(e)) from e
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def close(self) -> None:
        """Drop the session/module so its thread pool stops before the next backend starts."""
        self.module = None
        self.session = None
        gc.collect()
        if self.device is Device.CUDA:
            self._torch.cuda.empty_cache()

    # -- cases --------------------------------------------------------------------------------
    def host_inputs(self, batch: int) -> list[Any]:
        """Input buffers on the host (torch tensors; pinned when :func:`pin_host_memory`)."""
        shape = self.art.shape(batch)
        x_bytes = math.prod(shape) * self.dtype.itemsize
        cache = (getattr(self._torch.cuda.get_device_properties(0), "L2_cache_size", None)
                 if self.device is Device.CUDA else last_level_cache_bytes())
        n = rotation_buffers(x_bytes, cache, self.rotate)
        rng = np.random.default_rng(batch)
        np_dtype = np.float32 if self.dtype is DType.FLOAT32 else np.float16
        first = rng.standard_normal(shape, dtype=np.float32).astype(np_dtype, copy=False)
        host = [first] + [first.copy() for _ in range(n - 1)]  # distinct memory is what counts
        xs = [self._torch.from_numpy(h) for h in host]
        return [x.pin_memory() for x in xs] if self.pin_host else xs

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        """Around every timed stretch: the bench thread count, and no autograd for torch."""
        with torch_threads(self.threads):
            if self.backend is Backend.ONNXRUNTIME:
                yield
            else:
                with self._torch.inference_mode():
                    yield

    def case(self, batch: int) -> Prepared:
        xs = self.host_inputs(batch)
        if self.backend is Backend.ONNXRUNTIME:
            prep = self._ort_case([x.numpy() for x in xs])  # the same (pinned) memory
        else:
            prep = self._torch_case(xs)
        if self.backend is Backend.COMPILE and self.compile_s is None:
            t0 = time.perf_counter()  # the first call compiles: keep it out of the warm-up
            try:
                with prep.context():
                    prep.synced_step()
            except Exception as e:
                raise SkipCase(f"torch.compile failed: {describe_error(e)}") from e
            self.compile_s = time.perf_counter() - t0
        return prep

    def _torch_case(self, host: list[Any]) -> Prepared:
        torch = self._torch
        module = self.module
        on_cuda = self.device is Device.CUDA
        sync = torch.cuda.synchronize if on_cuda else None
        if on_cuda and self.transfer:
            nxt = _cycle(host)
            return Prepared(lambda: module(nxt().to("cuda", non_blocking=True)).cpu(), sync,
                            "perf_counter+sync", len(host), self._timed)
        nxt = _cycle([x.to(self.device.value) for x in host])
        return Prepared(lambda: module(nxt()), sync,
                        "cuda-events" if on_cuda else "perf_counter", len(host), self._timed)

    def _ort_case(self, host: list[np.ndarray]) -> Prepared:
        sess, name = self.session, self.input_name
        if self.device is Device.CPU or self.transfer:
            # Host in, host out: on CPU that is the plain API users call; on CUDA it times
            # the copies too, which is what --include-transfer asks for.
            nxt = _cycle(host)
            sync = self._torch.cuda.synchronize if self.device is Device.CUDA else None
            return Prepared(lambda: sess.run(None, {name: nxt()}), sync,
                            "perf_counter+sync" if sync else "perf_counter", len(host),
                            self._timed)
        import onnxruntime as ort

        bindings = []
        for h in host:  # device-resident input, output allocated on the device by ORT
            io = sess.io_binding()
            io.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(h, "cuda", 0))
            io.bind_output(self.output_name, "cuda")
            bindings.append(io)
        nxt = _cycle(bindings)
        return Prepared(lambda: sess.run_with_iobinding(nxt()), self._torch.cuda.synchronize,
                        "perf_counter+sync", len(bindings), self._timed)


__all__ = ["BackendHandle", "ModelArtifacts", "Prepared", "SkipCase", "describe_error",
           "pin_host_memory"]
