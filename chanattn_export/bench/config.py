"""What a benchmark run covers and how each case is timed: the config and the flat case plan.

The rules behind the defaults (explicit threads, stretches, settle pause, float16 only on CUDA,
rotation past the last-level cache) are explained in docs/benchmarks.md, "Why the timing rules".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import InvalidSpecError, MissingDependencyError
from ..spec import Backend, Device, DType, Layout, Precision, StrEnum, check_int

MIB = 1 << 20
MAX_ROTATION_BYTES = 1024 * MIB

DEFAULT_BACKENDS = (Backend.EAGER, Backend.TORCHSCRIPT, Backend.TORCH_EXPORT, Backend.ONNXRUNTIME)
ALL_BACKENDS = tuple(Backend)  # adds torch.compile: opt-in, its first compile takes seconds
DEFAULT_BATCH_SIZES = (1, 8, 32)


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
    """float16 only on CUDA: onnxruntime's CPU kernels would run it through Casts."""
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
    precisions: tuple[Precision, ...] = (Precision.FP32,)  # onnxruntime's files; others fp32

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
        object.__setattr__(self, "precisions", tuple(dict.fromkeys(
            Precision.parse(p, "precision") for p in self.precisions)))
        if not self.precisions:
            raise InvalidSpecError("no precisions to benchmark")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(map(str, v)) if isinstance(v, tuple) else
                    str(v) if isinstance(v, StrEnum) else v)
                for k, v in self.__dict__.items()}


class Case(NamedTuple):
    """One timed case: a model on a backend on a device at one batch size (and, for
    onnxruntime, one precision of its file)."""

    model: str
    backend: Backend
    device: Device
    batch: int
    precision: Precision = Precision.FP32


def plan(cfg: BenchConfig) -> list[Case]:
    """Every case in run order: model, then backend and precision (one contiguous stretch),
    device, batch. Only onnxruntime runs the fp16 and int8 files; the others run fp32."""
    fp32 = (Precision.FP32,)
    return [Case(m, b, d, n, p) for m in cfg.models for b in cfg.backends
            for p in (cfg.precisions if b is Backend.ONNXRUNTIME else fp32)
            for d in cfg.devices for n in cfg.batch_sizes]


__all__ = ["ALL_BACKENDS", "DEFAULT_BACKENDS", "DEFAULT_BATCH_SIZES", "BenchConfig", "Case",
           "check_dtype", "plan", "resolve_devices", "rotation_buffers"]
