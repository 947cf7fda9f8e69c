"""Bytes each block must move, the machine's measured bandwidth, and the floor they imply.

A channel-attention block is memory-bound: pooling reads x once, applying the gate reads x and
writes an output of the same size. The floor is the time to move those bytes at the bandwidth
measured by a large copy in the same run; ``x_floor`` = measured time / floor says how far a
backend is from what the memory system allows (1.0 is the floor; the pooling pass and the apply
pass together read x twice, so a good two-pass implementation sits near 1.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .timing import summarize, time_calls, time_cuda_events

MIB = 1 << 20
DEFAULT_COPY_BYTES = 256 * MIB
MAX_COPY_BYTES = 1024 * MIB


def bytes_moved(output: str, shape: tuple[int, ...], channels: int, itemsize: int) -> int:
    """Minimum bytes for one forward pass of a block on an input of ``shape``.

    ``output`` is the registry's ``ModelInfo.output``: "applied" reads x and writes y = x * gate
    (2 x bytes); "gate" reads x and writes only the [N, C, 1, 1] gate.
    """
    x = math.prod(shape) * itemsize
    if output == "applied":
        return 2 * x
    if output == "gate":
        return x + shape[0] * channels * itemsize
    raise ValueError(f"unknown output kind {output!r}")


def last_level_cache_bytes() -> int | None:
    """Size of the CPU's last-level cache from sysfs, or None where it cannot be read."""
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    best = None
    try:
        for idx in sorted(base.glob("index*")):
            level = int((idx / "level").read_text())
            size = _parse_size((idx / "size").read_text().strip())
            if size and (best is None or level >= best[0]):
                best = (level, size)
    except (OSError, ValueError):
        return None
    return best[1] if best else None


def _parse_size(text: str) -> int | None:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if not text:
        return None
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def copy_bytes_for(llc: int | None) -> int:
    """A copy size well past the last-level cache: max(256 MiB, 2 x LLC), at most 1 GiB."""
    want = DEFAULT_COPY_BYTES if llc is None else max(DEFAULT_COPY_BYTES, 2 * llc)
    return min(want, MAX_COPY_BYTES)


@dataclass(frozen=True)
class Bandwidth:
    """Copy bandwidth: bytes read + written per copy over the median copy time."""

    device: str
    gb_per_s: float
    copy_bytes: int
    median_ms: float
    iqr_ms: float

    def to_dict(self) -> dict[str, object]:
        return {"device": self.device, "gb_per_s": self.gb_per_s, "copy_bytes": self.copy_bytes,
                "median_ms": self.median_ms, "iqr_ms": self.iqr_ms}


def measure_bandwidth(device: str = "cpu", nbytes: int | None = None,
                      repeats: int = 7) -> Bandwidth:
    """Time ``dst.copy_(src)`` into a preallocated buffer (no page faults inside the timing)."""
    import torch

    if nbytes is None:
        nbytes = copy_bytes_for(last_level_cache_bytes() if device == "cpu" else None)
    n = nbytes // 4
    src = torch.ones(n, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    dst.fill_(0)  # touch every page once, outside the timing

    def step() -> None:
        dst.copy_(src)

    if device == "cuda":
        samples = time_cuda_events(step, 2, repeats)
    else:
        samples = time_calls(step, 2, repeats)
    st = summarize(samples)
    moved = 2 * n * 4
    return Bandwidth(device, moved / (st.median_ms / 1e3) / 1e9, moved // 2, st.median_ms,
                     st.iqr_ms)


def floor_ms(nbytes: int, gb_per_s: float) -> float:
    """Time to move ``nbytes`` at ``gb_per_s``."""
    return nbytes / (gb_per_s * 1e9) * 1e3
