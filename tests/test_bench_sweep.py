"""The loop: stretches pooled, skips and failures recorded, the thread count really in force."""

from __future__ import annotations

from typing import Any

import pytest

from chanattn_export.bench import backends
from chanattn_export.bench.config import DEFAULT_BACKENDS, BenchConfig
from chanattn_export.bench.sweep import run_sweep
from chanattn_export.runtime.devices import torch_threads

TINY: dict[str, Any] = {"height": 8, "width": 8, "warmup": 1, "repeats": 3, "settle_s": 0.0}


def test_stretches_pool_samples_from_fresh_buffers() -> None:
    cfg = BenchConfig(models=("eca",), backends=("eager",), batch_sizes=(2,), threads=1,
                      stretches=2, **{**TINY, "repeats": 4})
    (r,) = run_sweep(cfg, {})
    assert r.n_samples == 8 and len(r.samples_ms) == 8 and len(r.stretch_medians_ms) == 2
    assert r.x_floor is None  # no bandwidth measured: no floor, and no made-up number


def test_cuda_cases_without_cuda_are_skips_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = BenchConfig(models=("eca",), devices=("cuda",), batch_sizes=(1,), threads=1)
    rs = run_sweep(cfg, {})
    assert len(rs) == len(DEFAULT_BACKENDS) and all(r.skipped == "no CUDA device" for r in rs)
    assert all(r.error is None for r in rs)


def test_the_bench_thread_count_is_in_force_during_every_timed_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's count observed inside the timed calls and onnxruntime's read back from its
    session, for every backend; the user's torch setting is restored after the sweep."""
    import torch

    seen: dict[str, set[tuple[int, int | None]]] = {}
    case = backends.BackendHandle.case

    def recording_case(self: backends.BackendHandle, batch: int) -> backends.Prepared:
        prep = case(self, batch)
        step = prep.step

        def observed() -> object:
            ort_threads = (self.session.get_session_options().intra_op_num_threads
                           if self.session is not None else None)
            seen.setdefault(str(self.backend), set()).add((torch.get_num_threads(),
                                                           ort_threads))
            return step()

        prep.step = observed
        return prep

    monkeypatch.setattr(backends.BackendHandle, "case", recording_case)
    cfg = BenchConfig(models=("eca",), batch_sizes=(1, 2), threads=1, **TINY)
    with torch_threads(3):
        rs = run_sweep(cfg, {})
        assert torch.get_num_threads() == 3
    assert all(r.median_ms for r in rs) and {r.threads for r in rs} == {1}
    assert seen == {"eager": {(1, None)}, "torchscript": {(1, None)},
                    "torch-export": {(1, None)}, "onnxruntime": {(1, 1)}}


def test_one_failing_backend_does_not_lose_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: backends.BackendHandle) -> None:
        raise RuntimeError("CUDA error: an illegal memory access\nsecond line")

    monkeypatch.setattr(backends.BackendHandle, "_open_ort", broken)
    cfg = BenchConfig(models=("eca",), backends=("onnxruntime", "eager"), batch_sizes=(1, 2),
                      threads=1, **TINY)
    rs = run_sweep(cfg, {})
    assert [(r.backend, r.batch_size) for r in rs] == [
        ("onnxruntime", 1), ("onnxruntime", 2), ("eager", 1), ("eager", 2)]
    for r in rs[:2]:
        assert r.error == "RuntimeError: CUDA error: an illegal memory access"
        assert r.median_ms is None and r.skipped is None
    assert all(r.median_ms and r.error is None for r in rs[2:])


def test_one_failing_case_does_not_lose_its_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    case = backends.BackendHandle.case

    def fails_at_batch_2(self: backends.BackendHandle, batch: int) -> backends.Prepared:
        if batch == 2:
            raise MemoryError("out of memory")
        return case(self, batch)

    monkeypatch.setattr(backends.BackendHandle, "case", fails_at_batch_2)
    cfg = BenchConfig(models=("eca",), backends=("eager",), batch_sizes=(1, 2, 3),
                      threads=1, **TINY)
    rs = run_sweep(cfg, {})
    assert [r.error for r in rs] == [None, "MemoryError: out of memory", None]
    assert rs[0].median_ms and rs[2].median_ms and rs[1].median_ms is None


def test_an_unknown_model_fails_its_cases_with_the_registry_message() -> None:
    cfg = BenchConfig(models=("nope", "eca"), backends=("eager",), batch_sizes=(1,),
                      threads=1, **TINY)
    bad, good = run_sweep(cfg, {})
    assert bad.error and "unknown model" in bad.error and bad.bytes_moved is None
    assert good.median_ms and good.error is None
