"""Statistics and the roofline: raw samples in, medians, floors and traffic out (no timing)."""

from __future__ import annotations

import pytest

from chanattn_export.bench.roofline import (
    _parse_size,
    bytes_moved,
    copy_bytes_for,
    floor_ms,
    measure_copy_floor,
)
from chanattn_export.bench.timing import summarize, time_calls


def test_summarize_known_samples() -> None:
    st = summarize([0.001, 0.002, 0.003, 0.004, 0.100])  # one outlier
    assert st.n == 5
    assert st.median_ms == pytest.approx(3.0)
    assert st.q1_ms == pytest.approx(2.0) and st.q3_ms == pytest.approx(4.0)
    assert st.iqr_ms == pytest.approx(2.0)
    assert st.mean_ms == pytest.approx(22.0)  # the mean is dragged by the outlier...
    assert st.min_ms == pytest.approx(1.0) and st.max_ms == pytest.approx(100.0)


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError):
        summarize([])


def test_time_calls_discards_warmup_and_keeps_every_sample() -> None:
    calls, syncs = [], []
    ticks = iter(range(1000))
    samples = time_calls(lambda: calls.append(1), warmup=3, repeats=5,
                         sync=lambda: syncs.append(1), clock=lambda: float(next(ticks)))
    assert len(calls) == 8 and len(samples) == 5
    assert samples == [1.0] * 5  # fake clock: one tick per read
    assert len(syncs) == 6  # once before timing, once inside each timed call


def test_bytes_moved_applied_and_gate() -> None:
    shape = (8, 64, 56, 56)
    x = 8 * 64 * 56 * 56 * 4
    assert bytes_moved("applied", shape, 64, 4) == 2 * x
    assert bytes_moved("gate", shape, 64, 4) == x + 8 * 64 * 4
    assert bytes_moved("applied", shape, 64, 2) == x  # float16 halves the traffic
    with pytest.raises(ValueError):
        bytes_moved("weird", shape, 64, 4)


def test_floor_and_copy_size() -> None:
    assert floor_ms(10**9, 10.0) == pytest.approx(100.0)
    assert copy_bytes_for(None) == 256 << 20
    assert copy_bytes_for(200 << 20) == 400 << 20
    assert copy_bytes_for(4 << 30) == 1 << 30
    assert _parse_size("32768K") == 32 << 20


@pytest.mark.parametrize("output", ["applied", "gate"])
def test_copy_floor_runs_in_every_cache_state(output: str) -> None:
    # One buffer (in cache) and rotated buffers both give a positive median; no timing judged.
    for buffers in (1, 3):
        ms = measure_copy_floor((2, 4, 8, 8), output, buffers=buffers, warmup=1, repeats=3)
        assert ms > 0
    with pytest.raises(ValueError, match="unknown output kind"):
        measure_copy_floor((2, 4, 8, 8), "logits")
