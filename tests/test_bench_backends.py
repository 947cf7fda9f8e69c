"""Opening a backend and preparing a case: skips with reasons, threads, host memory, float16."""

from __future__ import annotations

import numpy as np
import pytest

from chanattn_export.bench.backends import (
    BackendHandle,
    ModelArtifacts,
    Prepared,
    SkipCase,
    pin_host_memory,
)
from chanattn_export.spec import Backend, Device, DType, Format


@pytest.fixture(scope="module")
def eca() -> ModelArtifacts:
    return ModelArtifacts.build("eca", height=8, width=8)


def test_cuda_backend_without_cuda_is_a_skip_with_reason(monkeypatch: pytest.MonkeyPatch,
                                                         eca: ModelArtifacts) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SkipCase, match="no CUDA device"):
        BackendHandle(eca, Backend.EAGER, Device.CUDA, DType.FLOAT32, 1)


def test_onnxruntime_session_gets_the_bench_thread_count(eca: ModelArtifacts) -> None:
    """What the session uses, read back from onnxruntime, not the number in the config."""
    import onnxruntime as ort

    handle = BackendHandle(eca, Backend.ONNXRUNTIME, Device.CPU, DType.FLOAT32, threads=3)
    try:
        assert isinstance(handle.session, ort.InferenceSession)
        assert handle.session.get_session_options().intra_op_num_threads == 3
    finally:
        handle.close()


def test_opening_a_backend_leaves_torch_threads_as_they_were(eca: ModelArtifacts) -> None:
    import torch

    before = torch.get_num_threads()
    handle = BackendHandle(eca, Backend.EAGER, Device.CPU, DType.FLOAT32, threads=before + 1)
    assert torch.get_num_threads() == before
    prep = handle.case(2)
    seen = []
    prep.step = lambda: seen.append(torch.get_num_threads())
    prep.time(warmup=1, repeats=3)
    assert seen == [before + 1] * 4  # the timed calls run at the bench count...
    assert torch.get_num_threads() == before  # ...and the user's setting comes back


def test_pinned_host_memory_rule_is_the_same_for_every_backend() -> None:
    assert pin_host_memory(Device.CUDA, include_transfer=True)
    assert not pin_host_memory(Device.CUDA, include_transfer=False)
    assert not pin_host_memory(Device.CPU, include_transfer=True)


@pytest.mark.parametrize("backend", [Backend.EAGER, Backend.ONNXRUNTIME])
def test_pinned_inputs_reach_torch_and_onnxruntime_alike(backend: Backend, eca: ModelArtifacts,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Under --include-transfer on CUDA both backends read pinned host buffers (no GPU here:
    pinning is recorded on CPU, and the case must still run from those very buffers)."""
    import torch

    pinned: list[int] = []

    def fake_pin(self: torch.Tensor) -> torch.Tensor:
        pinned.append(self.data_ptr())
        return self

    monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)
    handle = BackendHandle(eca, backend, Device.CPU, DType.FLOAT32, 1)
    try:
        handle.pin_host = True  # what pin_host_memory(CUDA, True) gives
        prep = handle.case(2)
        assert len(pinned) == prep.buffers == 1
        with prep.context():
            prep.synced_step()
    finally:
        handle.close()


def test_torch_export_backend_times_the_saved_pt2_program(eca: ModelArtifacts) -> None:
    """The case runs the program loaded from the ``.pt2`` bytes (as parity loads it), not the
    eager module, and computes what eager computes on the same input."""
    import torch

    handle = BackendHandle(eca, Backend.TORCH_EXPORT, Device.CPU, DType.FLOAT32, 1)
    try:
        assert "pt2" in eca.exported
        assert isinstance(handle.module.module, torch.fx.GraphModule)
        assert not isinstance(handle.module, torch.nn.Module)  # not the eager net
        prep = handle.case(3)  # a batch the program was not traced at
        with prep.context():
            y = prep.step()
        x = handle.host_inputs(3)[0]
        with torch.inference_mode():
            ref = eca.net(x)
        assert y.shape == ref.shape == x.shape
        torch.testing.assert_close(y, ref)
    finally:
        handle.close()


def test_torch_export_backend_is_cpu_only_with_a_reason(eca: ModelArtifacts,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(SkipCase, match="CPU only"):
        BackendHandle(eca, Backend.TORCH_EXPORT, Device.CUDA, DType.FLOAT32, 1)


def test_timer_label_names_the_clock_that_measured() -> None:
    def noop() -> None:
        return None

    cpu = Prepared(noop, None, "perf_counter", 1)
    cuda = Prepared(noop, noop, "cuda-events", 1)
    assert cpu.timer_for("pytest-benchmark") == "pytest-benchmark"
    assert cuda.timer_for("pytest-benchmark") == "pytest-benchmark+sync"


def test_float16_onnx_conversion_keeps_the_values() -> None:
    """The CUDA float16 path converts the exported file; check the conversion on CPU."""
    import onnxruntime as ort

    from chanattn_export.bench.float16 import to_float16

    art = ModelArtifacts.build("se", height=8, width=8)
    data = art.file(Format.ONNX)
    cpu = ["CPUExecutionProvider"]
    s16 = ort.InferenceSession(to_float16(data), providers=cpu)
    s32 = ort.InferenceSession(data, providers=cpu)
    x = np.random.default_rng(0).standard_normal((2, 64, 8, 8)).astype(np.float16)
    y = s16.run(None, {s16.get_inputs()[0].name: x})[0]
    assert y.dtype == np.float16 and y.shape == x.shape
    ref = s32.run(None, {s32.get_inputs()[0].name: x.astype(np.float32)})[0]
    # float16 keeps ~3 decimal digits: a few ulps of |x| <= ~4 after the gate's rounding
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(y.astype(np.float32), ref, rtol=2e-3, atol=2e-3 * scale)
    assert np.abs(y.astype(np.float32) - ref).max() > 0  # really computed in float16
