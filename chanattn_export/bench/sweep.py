"""Run the benchmark sweep: build each model once, time each backend in one stretch.

Fairness rules (PITFALLS.md, issue 3):
- torch and onnxruntime get the same explicit thread count, recorded in every result;
- each backend runs all its cases in one contiguous stretch, its session is closed afterwards,
  and a settle pause separates backends: spinning thread pools of one never steal the cores
  of the other;
- warm-up calls are discarded; every timed call is a raw sample;
- on CUDA the timed region is closed by CUDA events (torch) or a synchronize (onnxruntime,
  which runs through IO binding on device-resident buffers); host/device copies are timed only
  with ``include_transfer``;
- ``rotate_inputs`` cycles through enough input buffers to exceed the last-level cache.

The pytest-benchmark suite in ``benchmarks/`` uses :func:`open_backend` too, so both time the
very same callable.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ChanAttnError, InvalidSpecError, MissingDependencyError
from ..spec import ExportSpec, Format, InputSpec, Layout, StrEnum, check_int
from .records import BenchResult
from .roofline import Bandwidth, bytes_moved, floor_ms, last_level_cache_bytes
from .timing import summarize, time_calls, time_cuda_events

MIB = 1 << 20
MAX_ROTATION_BYTES = 1024 * MIB


class Backend(StrEnum):
    EAGER = "eager"
    TORCHSCRIPT = "torchscript"
    ONNXRUNTIME = "onnxruntime"
    COMPILE = "compile"  # torch.compile (inductor); opt-in: the first compile takes ~20 s


class Device(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"


class DType(StrEnum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"

    @property
    def itemsize(self) -> int:
        return 4 if self is DType.FLOAT32 else 2


DEFAULT_BACKENDS = (Backend.EAGER, Backend.TORCHSCRIPT, Backend.ONNXRUNTIME)
ALL_BACKENDS = tuple(Backend)
DEFAULT_BATCH_SIZES = (1, 8, 32)


class SkipCase(ChanAttnError):
    """This backend cannot run this case here; the reason goes into the record."""


def resolve_devices(requested: Sequence[str] | None, has_cuda: bool) -> tuple[Device, ...]:
    """Devices to run: the requested ones (CUDA must exist), else CPU plus CUDA when present."""
    if not requested:
        return (Device.CPU, Device.CUDA) if has_cuda else (Device.CPU,)
    devices = tuple(dict.fromkeys(Device.parse(d, "device") for d in requested))
    if Device.CUDA in devices and not has_cuda:
        raise MissingDependencyError(
            "device cuda was requested but torch sees no CUDA GPU here "
            "(install a CUDA build of torch, or use --devices cpu)")
    return devices  # type: ignore[return-value]


def check_dtype(dtype: DType, devices: Sequence[Device]) -> None:
    """float16 only on CUDA: onnxruntime's CPU kernels run it through Casts (PITFALLS.md)."""
    if dtype is DType.FLOAT16 and Device.CPU in devices:
        raise InvalidSpecError("dtype float16 runs on CUDA only; use --devices cuda "
                               "or --dtype float32")


def rotation_buffers(x_bytes: int, cache_bytes: int | None, rotate: bool) -> int:
    """How many input buffers to cycle so their total exceeds twice the last-level cache."""
    if not rotate:
        return 1
    cache = cache_bytes or 32 * MIB
    want = max(2, math.ceil(2 * cache / x_bytes))
    cap = max(2, MAX_ROTATION_BYTES // x_bytes)
    return min(want, cap)


@dataclass(frozen=True)
class BenchConfig:
    """Everything that decides which cases run and how each is timed."""

    models: tuple[str, ...]
    backends: tuple[Backend, ...] = DEFAULT_BACKENDS
    devices: tuple[Device, ...] = (Device.CPU,)
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    threads: int = 1
    dtype: DType = DType.FLOAT32
    warmup: int = 10
    repeats: int = 50
    rotate_inputs: bool = False
    include_transfer: bool = False
    channels: int = 64
    height: int = 56
    width: int = 56
    layout: Layout = Layout.NCHW
    settle_s: float = 1.0
    bandwidth_repeats: int = 7
    stretches: int = 1  # > 1: time each case again with fresh buffers, pool the samples

    def __post_init__(self) -> None:
        if not self.models:
            raise InvalidSpecError("no models to benchmark")
        if not self.backends:
            raise InvalidSpecError("no backends to benchmark")
        object.__setattr__(self, "backends", tuple(dict.fromkeys(
            Backend.parse(b, "backend") for b in self.backends)))
        object.__setattr__(self, "devices", tuple(dict.fromkeys(
            Device.parse(d, "device") for d in self.devices)))
        object.__setattr__(self, "dtype", DType.parse(self.dtype, "dtype"))
        object.__setattr__(self, "layout", Layout.parse(self.layout, "layout"))
        object.__setattr__(self, "batch_sizes", tuple(dict.fromkeys(
            check_int(b, "batch size", 1, 4096) for b in self.batch_sizes)))
        if not self.batch_sizes:
            raise InvalidSpecError("no batch sizes to benchmark")
        object.__setattr__(self, "threads", check_int(self.threads, "threads", 1, 1024))
        object.__setattr__(self, "warmup", check_int(self.warmup, "warmup", 0))
        object.__setattr__(self, "repeats", check_int(self.repeats, "repeats", 3))
        object.__setattr__(self, "stretches", check_int(self.stretches, "stretches", 1, 100))
        check_dtype(self.dtype, self.devices)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(map(str, v)) if isinstance(v, tuple) else
                    str(v) if isinstance(v, StrEnum) else v)
                for k, v in self.__dict__.items()}


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

    def file(self, fmt: Format) -> bytes:
        """The exported file, through the package's own exporters (what users ship)."""
        if fmt.value not in self._files:
            from ..export import export_bytes

            spec = ExportSpec(model=self.spec,
                              input=InputSpec(batch=2, height=self.height, width=self.width),
                              format=fmt)
            self._files[fmt.value] = export_bytes(self.net, spec).data
        return self._files[fmt.value]

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


def _cycle(items: list[Any]) -> Callable[[], Any]:
    it = itertools.cycle(items)
    return lambda: next(it)


def _cuda_cache_bytes() -> int | None:
    import torch

    return getattr(torch.cuda.get_device_properties(0), "L2_cache_size", None)


class BackendHandle:
    """A backend opened on one device for one model; :meth:`case` prepares one batch size."""

    def __init__(self, art: ModelArtifacts, backend: Backend, device: Device, dtype: DType,
                 threads: int, rotate_inputs: bool = False,
                 include_transfer: bool = False) -> None:
        import torch

        self.art, self.backend, self.device, self.dtype = art, backend, device, dtype
        self.threads, self.rotate, self.transfer = threads, rotate_inputs, include_transfer
        self._torch = torch
        self.compile_s: float | None = None
        if device is Device.CUDA and not torch.cuda.is_available():
            raise SkipCase("no CUDA device")
        if dtype is DType.FLOAT16 and device is Device.CPU:
            raise SkipCase("float16 runs on CUDA only")
        torch.set_num_threads(threads)
        self.module: Any = None
        self.session: Any = None
        if backend is Backend.ONNXRUNTIME:
            self._open_ort()
        else:
            self._open_torch()

    # -- opening ------------------------------------------------------------------------------
    def _open_torch(self) -> None:
        torch = self._torch
        dev = self.device.value
        if self.backend is Backend.TORCHSCRIPT:
            if self.dtype is DType.FLOAT16:
                raise SkipCase("TorchScript file is traced and frozen in float32; "
                               "its constants cannot be cast to float16")
            from ..runtime import TorchScriptRunner

            self.module = TorchScriptRunner(self.art.file(Format.TORCHSCRIPT), dev).module
            return
        net = copy.deepcopy(self.art.net).to(dev)
        if self.dtype is DType.FLOAT16:
            net = net.half()
        if self.backend is Backend.COMPILE:
            try:
                net = torch.compile(net)
            except Exception as e:  # compile is best effort: record why, run the rest
                raise SkipCase(f"torch.compile failed: {_first_line(e)}") from e
        self.module = net

    def _open_ort(self) -> None:
        from ..runtime import OrtRunner, ort_cuda_available

        if self.device is Device.CUDA and not ort_cuda_available():
            raise SkipCase("onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
        data = self.art.file(Format.ONNX)
        if self.dtype is DType.FLOAT16:
            data = to_float16(data)
        runner = OrtRunner(data, self.device.value, self.threads)
        self.session = runner.session
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def close(self) -> None:
        """Drop the session/module so its thread pool stops before the next backend starts."""
        self.module = None
        self.session = None
        import gc

        gc.collect()
        if self.device is Device.CUDA:
            self._torch.cuda.empty_cache()

    # -- cases --------------------------------------------------------------------------------
    def case(self, batch: int) -> Prepared:
        shape = self.art.shape(batch)
        itemsize = self.dtype.itemsize
        x_bytes = math.prod(shape) * itemsize
        cache = _cuda_cache_bytes() if self.device is Device.CUDA else last_level_cache_bytes()
        n = rotation_buffers(x_bytes, cache, self.rotate)
        rng = np.random.default_rng(batch)
        np_dtype = np.float32 if self.dtype is DType.FLOAT32 else np.float16
        first = rng.standard_normal(shape, dtype=np.float32).astype(np_dtype, copy=False)
        host = [first] + [first.copy() for _ in range(n - 1)]  # distinct memory is what counts
        if self.backend is Backend.ONNXRUNTIME:
            prep = self._ort_case(host)
        else:
            prep = self._torch_case(host)
        if self.backend is Backend.COMPILE and self.compile_s is None:
            t0 = time.perf_counter()  # the first call compiles: keep it out of the warm-up
            try:
                with prep.context():
                    prep.synced_step()
            except Exception as e:
                raise SkipCase(f"torch.compile failed: {_first_line(e)}") from e
            self.compile_s = time.perf_counter() - t0
        return prep

    def _torch_case(self, host: list[np.ndarray]) -> Prepared:
        torch = self._torch
        module = self.module
        on_cuda = self.device is Device.CUDA
        sync = torch.cuda.synchronize if on_cuda else None
        if on_cuda and self.transfer:
            xs = [torch.from_numpy(h).pin_memory() for h in host]
            nxt = _cycle(xs)
            return Prepared(lambda: module(nxt().to("cuda", non_blocking=True)).cpu(), sync,
                            "perf_counter+sync", len(xs), torch.inference_mode)
        xs = [torch.from_numpy(h).to(self.device.value) for h in host]
        nxt = _cycle(xs)
        return Prepared(lambda: module(nxt()), sync,
                        "cuda-events" if on_cuda else "perf_counter", len(xs),
                        torch.inference_mode)

    def _ort_case(self, host: list[np.ndarray]) -> Prepared:
        sess, name = self.session, self.input_name
        if self.device is Device.CPU or self.transfer:
            # Host in, host out: on CPU that is the plain API users call; on CUDA it times
            # the copies too, which is what --include-transfer asks for.
            nxt = _cycle(host)
            sync = self._torch.cuda.synchronize if self.device is Device.CUDA else None
            return Prepared(lambda: sess.run(None, {name: nxt()}), sync,
                            "perf_counter+sync" if sync else "perf_counter", len(host))
        import onnxruntime as ort

        bindings = []
        for h in host:  # device-resident input, output allocated on the device by ORT
            io = sess.io_binding()
            io.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(h, "cuda", 0))
            io.bind_output(self.output_name, "cuda")
            bindings.append(io)
        nxt = _cycle(bindings)
        return Prepared(lambda: sess.run_with_iobinding(nxt()), self._torch.cuda.synchronize,
                        "perf_counter+sync", len(bindings))


def to_float16(onnx_bytes: bytes) -> bytes:
    """The float32 ONNX file converted to float16 weights, inputs and outputs (for CUDA)."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as e:
        raise MissingDependencyError(f"float16 conversion needs onnx and onnxruntime: {e}") \
            from None
    model = convert_float_to_float16(onnx.load_from_string(onnx_bytes), keep_io_types=False,
                                     disable_shape_infer=True)
    return model.SerializeToString()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]


def time_prepared(prep: Prepared, warmup: int, repeats: int) -> list[float]:
    """Raw seconds per call for one prepared case, with the right timer for its device."""
    with prep.context():
        if prep.timer == "cuda-events":
            return time_cuda_events(prep.step, warmup, repeats)
        return time_calls(prep.step, warmup, repeats, sync=prep.sync)


def make_result(cfg: BenchConfig, art: ModelArtifacts, backend: Backend, device: Device,
                batch: int, samples_s: list[float] | None, bandwidth: Bandwidth | None,
                prep: Prepared | None = None, skipped: str | None = None) -> BenchResult:
    """A record with every derived number computed from the raw samples."""
    shape = art.shape(batch)
    r = BenchResult(model=art.name, backend=str(backend), device=str(device),
                    dtype=str(cfg.dtype), batch_size=batch, threads=cfg.threads,
                    channels=art.channels, height=art.height, width=art.width,
                    layout=str(art.layout), warmup=cfg.warmup, rotate_inputs=cfg.rotate_inputs,
                    include_transfer=cfg.include_transfer, skipped=skipped)
    r.bytes_moved = bytes_moved(art.output, shape, art.channels, cfg.dtype.itemsize)
    if bandwidth is not None:
        r.bandwidth_gb_s = bandwidth.gb_per_s
        r.floor_ms = floor_ms(r.bytes_moved, bandwidth.gb_per_s)
    if prep is not None:
        r.timer, r.input_buffers = prep.timer, prep.buffers
    if samples_s:
        st = summarize(samples_s)
        r.samples_ms = [s * 1e3 for s in samples_s]
        r.n_samples = st.n
        r.median_ms, r.iqr_ms, r.q1_ms, r.q3_ms = st.median_ms, st.iqr_ms, st.q1_ms, st.q3_ms
        r.min_ms, r.mean_ms = st.min_ms, st.mean_ms
        r.images_per_s = batch / (st.median_ms / 1e3)
        r.gb_per_s = r.bytes_moved / (st.median_ms / 1e3) / 1e9
        if r.floor_ms:
            r.x_floor = st.median_ms / r.floor_ms
    return r


def plan(cfg: BenchConfig) -> list[tuple[str, Backend, Device, int]]:
    """Every case in run order: model, then backend (one contiguous stretch), device, batch."""
    return [(m, b, d, n) for m in cfg.models for b in cfg.backends for d in cfg.devices
            for n in cfg.batch_sizes]


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op threads for the run and restore the user's setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_sweep(cfg: BenchConfig, bandwidth: dict[str, Bandwidth],
              on_result: Callable[[BenchResult], None] | None = None,
              on_status: Callable[[str], None] | None = None) -> list[BenchResult]:
    """Time every case of ``cfg``; unsupported cases come back with ``skipped`` set."""
    say = on_status or (lambda _m: None)
    done = on_result or (lambda _r: None)
    results: list[BenchResult] = []
    with torch_threads(cfg.threads):
        for name in cfg.models:
            say(f"building {name}")
            art = ModelArtifacts.build(name, cfg.channels, cfg.height, cfg.width, cfg.layout)
            for backend in cfg.backends:
                for device in cfg.devices:
                    bw = bandwidth.get(device.value)
                    say(f"{name}: opening {backend} on {device}")
                    try:
                        handle = BackendHandle(art, backend, device, cfg.dtype, cfg.threads,
                                               cfg.rotate_inputs, cfg.include_transfer)
                    except SkipCase as e:
                        for n in cfg.batch_sizes:
                            r = make_result(cfg, art, backend, device, n, None, bw,
                                            skipped=str(e))
                            results.append(r)
                            done(r)
                        continue
                    # Opening may have exported (torch work) and the previous backend's pool
                    # may still spin: let both park before the first timed call.
                    time.sleep(cfg.settle_s)
                    try:
                        for n in cfg.batch_sizes:
                            try:
                                # Timings are bimodal and the mode can change with the buffers'
                                # addresses: several stretches on fresh buffers, samples pooled.
                                parts = []
                                for _ in range(cfg.stretches):
                                    prep = handle.case(n)
                                    parts.append(time_prepared(prep, cfg.warmup, cfg.repeats))
                                samples = [t for part in parts for t in part]
                                r = make_result(cfg, art, backend, device, n, samples, bw, prep)
                                r.stretch_medians_ms = [summarize(p).median_ms for p in parts]
                            except SkipCase as e:
                                r = make_result(cfg, art, backend, device, n, None, bw,
                                                skipped=str(e))
                            results.append(r)
                            done(r)
                    finally:
                        handle.close()
    return results
