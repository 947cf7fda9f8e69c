"""Throughput of every registered model on every backend, device and batch size.

Cases are listed model-major then backend, so each backend runs in one contiguous stretch
(the order pytest keeps). Each timed call is one forward pass; on CUDA the call includes a
synchronize, because pytest-benchmark's clock cannot see queued GPU work, and the record's
``timer`` says so ("pytest-benchmark+sync"). Backends are opened exactly as the CLI opens them
(``chanattn_export.bench.backends``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from chanattn_export.bench.backends import BackendHandle, ModelArtifacts, SkipCase
from chanattn_export.bench.roofline import bytes_moved, floor_ms
from chanattn_export.bench.timing import summarize
from chanattn_export.registry import list_models
from chanattn_export.runtime import cuda_available
from chanattn_export.spec import Backend, Device, DType

# The default run: a few representative blocks (the tutorial block, SE, ECA) at the smallest
# and the largest default batch on the CLI's default backends, quick enough to run often.
# --bench-full: every registered model, every backend (torch.compile too), batches 1 to 64.
QUICK_MODELS = ("cbam-channel", "se", "eca")
QUICK_BATCHES = (1, 32)
BATCHES = (1, 8, 32, 64)
TARGET_S = 0.5  # timed seconds per case: enough rounds for a stable median
STRETCHES = 3
HAS_CUDA = cuda_available()


def _cases() -> list[Any]:
    out = []
    for info in list_models():
        for backend in Backend:
            for device in Device:
                for batch in BATCHES:
                    marks = []
                    if (info.name not in QUICK_MODELS or backend is Backend.COMPILE
                            or batch not in QUICK_BATCHES):
                        marks.append(pytest.mark.full)
                    if device is Device.CUDA and not HAS_CUDA:
                        marks.append(pytest.mark.skip(reason="no CUDA device on this machine"))
                    out.append(pytest.param(info.name, backend, device, batch, marks=marks,
                                            id=f"{info.name}-{backend}-{device}-b{batch}"))
    return out


def _pooled(steps: list[Any], block: int) -> Any:
    """One callable that runs ``block`` calls of each step in turn (a stretch per input set)."""
    count = [0]

    def step() -> None:
        i = count[0]
        count[0] = i + 1
        steps[(i // block) % len(steps)]()

    return step


def _rounds(step: Any, warmup: int, target_s: float = TARGET_S) -> int:
    """Rounds that fill about ``target_s``, from the warm-up calls' own speed."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    per_call = (time.perf_counter() - t0) / max(warmup, 1)
    return int(min(500, max(10, math.ceil(target_s / max(per_call, 1e-6)))))


def _check_record(benchmark: Any, rounds: int, threads: int) -> None:
    """What the saved record promises: every round timed, positive numbers, honest labels."""
    stats, info = benchmark.stats.stats, benchmark.extra_info
    assert stats.rounds == rounds and stats.min > 0 and stats.median >= stats.min
    assert info["images_per_s"] > 0 and info["gb_per_s"] > 0 and info["threads"] == threads
    assert info["bytes_moved"] > 0 and info["input_buffers"] >= 1
    assert info["timer"].startswith("pytest-benchmark")  # its clock, not CUDA events
    assert info["timer"].endswith("+sync") == (info["device"] == "cuda")
    if "x_floor" in info:
        assert info["x_floor"] > 0 and info["floor_ms"] > 0


@pytest.mark.parametrize(("model", "backend", "device", "batch"), _cases())
def test_throughput(benchmark: Any, pytestconfig: pytest.Config, threads: int,
                    bandwidth: dict[str, Any], artifacts: dict[str, Any], settle: Any,
                    model: str, backend: Backend, device: Device, batch: int) -> None:
    art = artifacts.get(model)
    if art is None:
        art = artifacts[model] = ModelArtifacts.build(model)
    rotate = pytestconfig.getoption("--bench-rotate-inputs")
    exported = len(art.exported)
    try:
        handle = BackendHandle(art, backend, device, DType.FLOAT32, threads, rotate)
    except SkipCase as e:
        pytest.skip(str(e))
    try:
        # As the CLI's --stretches: timings are bimodal and the mode can follow the buffers'
        # addresses, so the rounds are spread in blocks over several fresh input sets.
        preps = [handle.case(batch) for _ in range(STRETCHES)]
        prep = preps[0]
    except SkipCase as e:
        handle.close()
        pytest.skip(str(e))
    settle(str(backend), exported_now=len(art.exported) != exported)
    try:
        nbytes = bytes_moved(art.output, art.shape(batch), art.channels, 4)
        benchmark.group = f"{model} {device} batch={batch}"
        benchmark.extra_info.update(
            model=model, backend=str(backend), device=str(device), dtype="float32",
            batch_size=batch, threads=threads, bytes_moved=nbytes, channels=art.channels,
            height=art.height, width=art.width, layout=str(art.layout),
            timer=prep.timer_for("pytest-benchmark"),
            input_buffers=prep.buffers, rotate_inputs=rotate)
        with prep.context():
            for p in preps[1:]:
                for _ in range(3):
                    p.synced_step()
            smoke = pytestconfig.getoption("--bench-smoke")
            rounds = _rounds(prep.synced_step, 10, 0.02 if smoke else TARGET_S)
            step = _pooled([p.synced_step for p in preps], max(1, rounds // STRETCHES))
            benchmark.pedantic(step, rounds=rounds, iterations=1)
        if benchmark.stats is None:  # --benchmark-disable: nothing was timed
            return
        median_s = benchmark.stats.stats.median
        bw = bandwidth.get(str(device))
        st = summarize(benchmark.stats.stats.data)  # p90/p99 from the raw rounds, as the CLI
        benchmark.extra_info.update(images_per_s=batch / median_s,
                                    gb_per_s=nbytes / median_s / 1e9,
                                    p90_ms=st.p90_ms, p99_ms=st.p99_ms)
        if bw is not None:
            floor = floor_ms(nbytes, bw.gb_per_s)
            benchmark.extra_info.update(bandwidth_gb_s=bw.gb_per_s, floor_ms=floor,
                                        x_floor=median_s * 1e3 / floor)
        _check_record(benchmark, rounds, threads)
    finally:
        handle.close()
