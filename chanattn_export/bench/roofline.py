"""Bytes each block must move, the machine's measured bandwidth, and the floor they imply.

A channel-attention block is memory-bound: pooling reads x once, applying the gate reads x and
writes an output of the same size. Two floors are reported, because they answer different
questions:

- ``x_floor`` = median / (bytes moved at the *DRAM* bandwidth of a large copy in the same run).
  It says how far a case is from streaming its bytes from memory. An input that stays in cache
  (the default: one buffer, no ``--rotate-inputs``) can beat it, so below 1 means "in cache",
  not "faster than memory allows".
- ``x_copy`` = median / the time of a copy of the *same working set* in the *same cache state*
  (:func:`measure_copy_floor`: the same input bytes, cycled through as many buffers as the case
  rotates, into an output of the same size; a read pass for gate-only outputs), timed in the
  same run. 1.0 is what one pass over those bytes costs where they live; a two-pass block
  (pool, then apply: read x twice, write once) cannot go below about 1.5.
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


def measure_copy_floor(shape: tuple[int, ...], output: str, *, buffers: int = 1,
                       device: str = "cpu", half: bool = False, warmup: int = 5,
                       repeats: int = 30) -> float:
    """Median ms of one pass over the case's working set, in the case's cache state.

    ``buffers`` inputs of ``shape`` are cycled exactly as the case cycles them (1 = the same
    input every call, so it stays in cache when it fits; more = rotated past the cache). An
    "applied" output is a copy into a preallocated output of the same size (read x, write y);
    a "gate" output is a read-only pass (a sum), since the block writes almost nothing.
    """
    import itertools

    import torch

    if output not in ("applied", "gate"):
        raise ValueError(f"unknown output kind {output!r}")
    dtype = torch.float16 if half else torch.float32
    xs = [torch.ones(shape, dtype=dtype, device=device) for _ in range(max(1, buffers))]
    out = torch.empty(shape if output == "applied" else shape[:1], dtype=dtype, device=device)
    rest = tuple(range(1, len(shape)))
    nxt = itertools.cycle(xs).__next__

    def copy() -> None:
        out.copy_(nxt())

    def read() -> None:
        torch.sum(nxt(), rest, out=out)

    step = copy if output == "applied" else read
    if device == "cuda":
        samples = time_cuda_events(step, warmup, repeats)
    else:
        samples = time_calls(step, warmup, repeats)
    return summarize(samples).median_ms
