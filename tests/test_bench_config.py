"""Which cases a run covers: devices, dtype rules, defaults, the flat plan, input rotation."""

from __future__ import annotations

import pytest

from chanattn_export.bench import session
from chanattn_export.bench.config import BenchConfig, Case, plan, resolve_devices, rotation_buffers
from chanattn_export.errors import InvalidSpecError, MissingDependencyError
from chanattn_export.spec import Backend, Device, DType


def test_devices_default_and_cuda_selection() -> None:
    assert resolve_devices(None, has_cuda=False) == (Device.CPU,)
    assert resolve_devices(None, has_cuda=True) == (Device.CPU, Device.CUDA)
    assert resolve_devices(["cuda", "cpu", "cuda"], has_cuda=True) == (Device.CUDA, Device.CPU)
    with pytest.raises(MissingDependencyError, match="no CUDA"):
        resolve_devices(["cuda"], has_cuda=False)
    with pytest.raises(InvalidSpecError, match="device must be one of"):
        resolve_devices(["tpu"], has_cuda=False)


def test_float16_only_on_cuda() -> None:
    with pytest.raises(InvalidSpecError, match="float16 runs on CUDA only"):
        session.make_config(models="se", dtype="float16", has_cuda=False)
    cfg = session.make_config(models="se", dtype="float16", has_cuda=True)
    assert cfg.devices == (Device.CUDA,) and cfg.dtype is DType.FLOAT16


def test_config_defaults_quick_and_validation() -> None:
    cfg = session.make_config(has_cuda=False)
    assert cfg.backends == (Backend.EAGER, Backend.TORCHSCRIPT, Backend.TORCH_EXPORT,
                            Backend.ONNXRUNTIME)
    picked = session.make_config(backends="torch-export,eager", has_cuda=False).backends
    assert picked == (Backend.TORCH_EXPORT, Backend.EAGER)
    assert cfg.batch_sizes == (1, 8, 32) and cfg.threads >= 1 and len(cfg.models) >= 4
    quick = session.make_config(quick=True, has_cuda=False)
    assert quick.models == ("cbam-channel",) and quick.batch_sizes == (1, 8)
    assert Backend.COMPILE in session.make_config(backends="all", has_cuda=False).backends
    with pytest.raises(InvalidSpecError, match="batch sizes must be integers"):
        session.make_config(batch_sizes="1,x", has_cuda=False)
    with pytest.raises(InvalidSpecError, match="batch size must be in"):
        session.make_config(batch_sizes="0", has_cuda=False)
    with pytest.raises(InvalidSpecError, match="backend must be one of"):
        session.make_config(backends="tensorrt", has_cuda=False)
    with pytest.raises(InvalidSpecError, match="repeats"):
        session.make_config(repeats=1, has_cuda=False)
    with pytest.raises(InvalidSpecError, match="did you mean"):
        session.make_config(models="cbam-chanel", has_cuda=False)


def test_config_speaks_the_shared_vocabulary() -> None:
    """Strings become spec's enums: the bench and the runtime name backends the same way."""
    cfg = BenchConfig(models=("se",), backends=("onnxruntime",), devices=("cpu",))
    assert cfg.backends == (Backend.ONNXRUNTIME,) and cfg.devices == (Device.CPU,)
    (case,) = plan(BenchConfig(models=("se",), backends=("onnxruntime",), batch_sizes=(4,)))
    assert case == Case("se", Backend.ONNXRUNTIME, Device.CPU, 4)
    assert case.backend.on(case.device) == "onnxruntime-cpu"


def test_plan_keeps_each_backend_contiguous() -> None:
    cfg = BenchConfig(models=("se", "eca"), backends=("eager", "onnxruntime"),
                      batch_sizes=(1, 8))
    order = [(c.model, str(c.backend)) for c in plan(cfg)]
    runs = [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k]
    assert runs == [("se", "eager"), ("se", "onnxruntime"), ("eca", "eager"),
                    ("eca", "onnxruntime")]
    assert len(plan(cfg)) == 8


def test_rotation_buffers_exceed_cache() -> None:
    assert rotation_buffers(1 << 20, 32 << 20, rotate=False) == 1
    n = rotation_buffers(1 << 20, 32 << 20, rotate=True)
    assert n * (1 << 20) >= 2 * (32 << 20)
    assert rotation_buffers(512 << 20, 32 << 20, rotate=True) == 2
