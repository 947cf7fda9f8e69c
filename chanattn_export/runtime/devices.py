"""Which devices each runtime can really use here, and torch state that runs must put back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from ..errors import InvalidSpecError
from ..spec import Device

Devices = tuple[Device, ...]


def cuda_available() -> bool:
    """torch sees a usable CUDA GPU."""
    import torch

    return bool(torch.cuda.is_available())


def ort_cuda_available() -> bool:
    """onnxruntime was built with CUDA (a session may still fall back: check its providers)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def parse_devices(value: str | Iterable[Device | str] | None) -> Devices | None:
    """``"cpu,cuda"`` or a list of devices as a tuple; ``None`` stays ``None`` (the default:
    CPU, plus CUDA where it is detected). An explicit list is exactly what runs: ``cpu`` alone
    never asks torch or onnxruntime about CUDA."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items if str(v).strip()]
    if not names:
        raise InvalidSpecError("devices must name at least one of cpu, cuda")
    return tuple(dict.fromkeys(Device.parse(n, "device") for n in names))  # type: ignore[misc]


@contextlib.contextmanager
def tf32_disabled() -> Iterator[None]:
    """TF32 off for matmuls and cuDNN inside the block, the user's settings restored after.

    Parity runs in here: TF32 convolutions are 1e-3 off float32 by design and would hide real
    export errors behind a loose tolerance. Benchmarks never see the change.
    """
    import torch

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` inside the block, the user's setting restored."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = ["Devices", "cuda_available", "ort_cuda_available", "parse_devices", "tf32_disabled",
           "torch_threads"]
