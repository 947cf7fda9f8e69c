"""Pure timing and statistics: raw samples in, median and IQR out.

Warm-up calls are run and thrown away; every timed call is kept as one raw sample, so any
statistic can be recomputed later. The mean is reported for reference only: timings are bimodal
at some sizes and have rare long stalls (docs/benchmarks.md, "Why the timing rules"), so the
median with its IQR is what we compare.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Summary of raw samples, all in milliseconds."""

    n: int
    median_ms: float
    q1_ms: float
    q3_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float
    mean_ms: float


def summarize(samples_s: Sequence[float]) -> Stats:
    """Median, quartiles (linear interpolation, numpy's default) and range of ``samples_s``."""
    a = np.asarray(samples_s, dtype=np.float64) * 1e3
    if a.size == 0:
        raise ValueError("no samples to summarize")
    q1, med, q3 = (float(v) for v in np.percentile(a, [25, 50, 75]))
    return Stats(n=int(a.size), median_ms=med, q1_ms=q1, q3_ms=q3, iqr_ms=q3 - q1,
                 min_ms=float(a.min()), max_ms=float(a.max()), mean_ms=float(a.mean()))


def time_calls(fn: Callable[[], object], warmup: int, repeats: int,
               sync: Callable[[], None] | None = None,
               clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Seconds per call of ``fn``, one sample per call, after ``warmup`` discarded calls.

    ``sync`` (e.g. ``torch.cuda.synchronize``) runs before the clock starts and before it stops,
    so asynchronous device work is inside the timed region and nothing queued earlier is.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    samples = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        if sync is not None:
            sync()
        samples.append(clock() - t0)
    return samples


def time_cuda_events(fn: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    """Seconds per call measured with CUDA events on torch's current stream.

    Only for work queued on torch's stream (eager, TorchScript, torch.compile); onnxruntime uses
    its own stream and is timed with :func:`time_calls` plus a synchronize instead.
    """
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    return samples
