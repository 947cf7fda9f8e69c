"""One record per case, every derived number computed from the raw samples in one place."""

from __future__ import annotations

from collections.abc import Sequence

from .backends import Prepared
from .config import BenchConfig, Case
from .records import BenchResult
from .roofline import Bandwidth, bytes_moved, floor_ms
from .timing import summarize


def make_result(cfg: BenchConfig, case: Case, output: str,
                stretches: Sequence[Sequence[float]] = (), bandwidth: Bandwidth | None = None,
                prep: Prepared | None = None, *, skipped: str | None = None,
                error: str | None = None, copy_ms: float | None = None) -> BenchResult:
    """The record of ``case``: raw samples in seconds (one list per stretch) in, numbers out.

    ``output`` is the registry's output kind ("applied" or "gate"); empty when unknown (a model
    that failed to build), and then no traffic figures are made up. A case without samples is
    recorded with the reason it was ``skipped`` or the ``error`` it failed with. ``copy_ms``
    is the same-working-set copy of :func:`~chanattn_export.bench.roofline.measure_copy_floor`
    (``x_copy`` = median / copy_ms), beside the DRAM floor behind ``x_floor``.
    """
    shape = cfg.layout.shape(case.batch, cfg.channels, cfg.height, cfg.width)
    r = BenchResult(model=case.model, backend=str(case.backend), device=str(case.device),
                    dtype=str(cfg.dtype), batch_size=case.batch, threads=cfg.threads,
                    channels=cfg.channels, height=cfg.height, width=cfg.width,
                    layout=str(cfg.layout), warmup=cfg.warmup, rotate_inputs=cfg.rotate_inputs,
                    include_transfer=cfg.include_transfer, skipped=skipped, error=error,
                    precision=str(case.precision))
    if output:
        r.bytes_moved = bytes_moved(output, shape, cfg.channels, cfg.dtype.itemsize)
    if bandwidth is not None and r.bytes_moved is not None:
        r.bandwidth_gb_s = bandwidth.gb_per_s
        r.floor_ms = floor_ms(r.bytes_moved, bandwidth.gb_per_s)
    if prep is not None:
        r.timer, r.input_buffers = prep.timer, prep.buffers
    samples_s = [t for part in stretches for t in part]
    if samples_s:
        st = summarize(samples_s)
        r.samples_ms = [s * 1e3 for s in samples_s]
        r.stretch_medians_ms = [summarize(p).median_ms for p in stretches if len(p)]
        r.n_samples = st.n
        r.median_ms, r.iqr_ms, r.q1_ms, r.q3_ms = st.median_ms, st.iqr_ms, st.q1_ms, st.q3_ms
        r.min_ms, r.mean_ms, r.max_ms = st.min_ms, st.mean_ms, st.max_ms
        r.p90_ms, r.p99_ms = st.p90_ms, st.p99_ms
        r.images_per_s = case.batch / (st.median_ms / 1e3)
        if r.bytes_moved is not None:
            r.gb_per_s = r.bytes_moved / (st.median_ms / 1e3) / 1e9
        if r.floor_ms:
            r.x_floor = st.median_ms / r.floor_ms
        if copy_ms:
            r.copy_ms, r.x_copy = copy_ms, st.median_ms / copy_ms
    return r


__all__ = ["make_result"]
