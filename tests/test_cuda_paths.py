"""CUDA paths checked on a CPU-only machine, through mechanism analogues and fakes.

- A frozen TorchScript module's weights are constants that ``.to()`` does not move (shown with
  the dtype analogue), so the runner must load the file onto its device (``map_location``).
- onnxruntime silently runs a "CUDA" session on the CPU when CUDA libraries are missing: the
  runner refuses that, and parity reports a skip, never a result labelled CUDA.
- ``--devices``: ``cpu`` never touches CUDA; by default an unusable GPU is reported by backend
  as a skip with "CUDA" in the reason, and the CPU artifact still passes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from reliability_helpers import ONNX_NAME, PT_NAME, TINY

from chanattn_export import MissingDependencyError, api
from chanattn_export.check.parity import ParityReport
from chanattn_export.check.verify import verify_folder
from chanattn_export.cli import main
from chanattn_export.registry import create_model
from chanattn_export.runtime import OrtRunner, TorchScriptRunner, backends_for, devices
from chanattn_export.runtime import select as select_mod
from chanattn_export.spec import Format

CUDA_MSG = "CUDA error: no kernel image is available for execution on the device"


# --- item 1: TorchScript onto the target device ---------------------------------------------

def test_frozen_torchscript_constants_do_not_follow_to(pristine: Path) -> None:
    """Why ``.to(device)`` after loading is not enough: the dtype analogue of the device move."""
    module = torch.jit.load(io.BytesIO((pristine / PT_NAME).read_bytes()))
    assert not list(module.parameters())  # frozen: the weights are graph constants
    module.to(torch.float64)  # moves nothing: the constants stay float32
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        module(x)
    assert create_model("se", channels=8).to(torch.float64)(x).dtype == torch.float64


class _FakeLoaded:
    """A loaded module whose ``.to`` moves nothing, as with a frozen file's constants."""

    def to(self, *_a, **_k) -> _FakeLoaded:
        return self

    def eval(self) -> _FakeLoaded:
        return self


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_torchscript_runner_loads_onto_its_device(device: str, monkeypatch) -> None:
    seen: list[object] = []

    def fake_load(f, map_location=None, **_kw) -> _FakeLoaded:
        seen.append(map_location)
        return _FakeLoaded()

    monkeypatch.setattr(torch.jit, "load", fake_load)
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    runner = TorchScriptRunner(b"file bytes", device)
    assert [str(m) for m in seen] == [device]
    assert runner.name == f"torchscript-{device}"


# --- item 2: onnxruntime's silent CPU fallback -----------------------------------------------

@pytest.fixture
def ort_falls_back(monkeypatch) -> list[object]:
    """onnxruntime built with CUDA whose CUDA libraries are missing: every session it creates
    runs on the CPU, whatever providers were asked for. Records the providers asked for."""
    real = ort.InferenceSession
    asked: list[object] = []

    def session(data, sess_options=None, providers=None):
        asked.append(providers)
        return real(data, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", session)
    monkeypatch.setattr(devices, "ort_cuda_available", lambda: True)
    return asked


def test_ort_cuda_session_on_the_cpu_is_refused(pristine: Path, ort_falls_back) -> None:
    data = (pristine / ONNX_NAME).read_bytes()
    with pytest.raises(MissingDependencyError, match="CUDA provider did not load"):
        OrtRunner(data, "cuda")
    assert "CUDAExecutionProvider" in str(ort_falls_back[-1])
    x = np.zeros((1, 8, 8, 8), np.float32)
    assert OrtRunner(data, "cpu").infer(x).shape == x.shape


def test_ort_fallback_is_a_reported_skip_not_a_cuda_result(tmp_path: Path, ort_falls_back,
                                                           capsys) -> None:
    code = main(["onnx", "--model", "se", "--channels", "8", "--height", "8", "--width", "8",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SKIP se-nchw-c8-r8-8x8.onnx: onnxruntime-cuda not checked: CUDA unusable" in out
    entry = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][0]
    report = ParityReport.from_dict(entry["parity"])
    assert entry["status"] == "passed" and report.backends() == ["onnxruntime-cpu"]
    assert [k.backend for k in report.skipped] == ["onnxruntime-cuda"]
    assert "CUDA provider did not load" in report.skipped[0].reason


# --- item 4: --devices ----------------------------------------------------------------------

@pytest.fixture
def broken_cuda(monkeypatch) -> dict[str, list]:
    """A GPU host whose CUDA runners all fail; records CUDA queries and CUDA runner builds."""
    calls: dict[str, list] = {"queried": [], "built": []}

    def available(which: str):
        def probe() -> bool:
            calls["queried"].append(which)
            return True
        return probe

    monkeypatch.setattr(devices, "cuda_available", available("torch"))
    monkeypatch.setattr(devices, "ort_cuda_available", available("onnxruntime"))
    for name in ("EagerRunner", "OrtRunner", "TorchScriptRunner"):
        real = getattr(select_mod, name)

        def fake(*args, _real=real, _name=name, **kw):
            device = args[1] if len(args) > 1 else kw.get("device", "cpu")
            if str(device) == "cuda":
                calls["built"].append(_name)
                raise RuntimeError(CUDA_MSG)
            return _real(*args, **kw)

        monkeypatch.setattr(select_mod, name, fake)
    return calls


def test_devices_cpu_never_touches_cuda(tmp_path: Path, broken_cuda, capsys) -> None:
    for fmt in ("torchscript", "onnx"):
        code = main([fmt, "--model", "se", "--channels", "8", "--height", "8", "--width", "8",
                     "--devices", "cpu", "--out", str(tmp_path)])
        assert code == 0
    assert main(["parity", str(tmp_path), "--trust-torchscript", "--devices", "cpu"]) == 0
    assert main(["verify", str(tmp_path), "--trust-torchscript", "--devices", "cpu"]) == 0
    assert broken_cuda == {"queried": [], "built": []}
    assert "SKIP" not in capsys.readouterr().out


def test_default_devices_report_a_broken_gpu_by_backend(tmp_path: Path, broken_cuda,
                                                        capsys) -> None:
    assert backends_for(Format.TORCHSCRIPT) == ["torchscript-cpu", "torchscript-cuda",
                                                "eager-cuda"]
    res = api.export_torchscript("se", out=tmp_path, **TINY)
    assert res.passed and res.parity.backends() == ["torchscript-cpu"]
    assert {k.backend for k in res.parity.skipped} == {"torchscript-cuda", "eager-cuda"}
    assert all("CUDA" in k.reason and CUDA_MSG in k.reason and not k.requested
               for k in res.parity.skipped)
    assert main(["parity", str(tmp_path), "--trust-torchscript"]) == 0
    out = capsys.readouterr().out
    assert "SKIP se-nchw-c8-r8-8x8.pt: torchscript-cuda not checked: CUDA unusable" in out
    problems = verify_folder(tmp_path, trust_torchscript=True)
    assert problems and all(p.severity == "warning" and "CUDA" in p.message for p in problems)


def test_asked_for_gpu_that_breaks_fails_the_command_not_the_artifact(tmp_path: Path,
                                                                      broken_cuda,
                                                                      capsys) -> None:
    code = main(["torchscript", "--model", "se", "--channels", "8", "--height", "8",
                 "--width", "8", "--devices", "cpu,cuda", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "torchscript-cuda not checked: CUDA unusable" in out and "--devices" in out
    entry = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][0]
    assert entry["status"] == "passed"  # the file's CPU checks passed
    assert main(["verify", str(tmp_path), "--trust-torchscript", "--devices", "cuda"]) == 1


def test_asked_for_gpu_that_is_absent_fails_before_any_work(tmp_path: Path, monkeypatch,
                                                            capsys) -> None:
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    code = main(["torchscript", "--devices", "cuda", "--out", str(tmp_path / "art")])
    assert code == 2
    assert "torch sees no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "art").exists()


def test_bad_devices_value_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["onnx", "--devices", "tpu", "--out", str(tmp_path / "art")]) == 2
    assert "device must be one of cpu, cuda; got 'tpu'" in capsys.readouterr().err


def test_recheck_asking_for_an_absent_gpu_changes_nothing(folder: Path, monkeypatch,
                                                          capsys) -> None:
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    monkeypatch.setattr(devices, "ort_cuda_available", lambda: False)
    before = (folder / "manifest.json").read_bytes()
    assert main(["parity", str(folder), "--trust-torchscript", "--devices", "cuda"]) == 2
    assert main(["verify", str(folder), "--trust-torchscript", "--devices", "cuda"]) == 2
    assert main(["verify", str(folder), "--trust-torchscript", "--devices", "tpu"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("[")]
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "no CUDA" in err[0] + err[1] or "CUDAExecutionProvider" in err[0] + err[1]
    assert (folder / "manifest.json").read_bytes() == before


def test_recheck_on_a_broken_gpu_only_keeps_the_recorded_verdicts(folder: Path, broken_cuda,
                                                                  capsys) -> None:
    before = (folder / "manifest.json").read_bytes()
    assert main(["parity", str(folder), "--trust-torchscript", "--devices", "cuda"]) == 1
    out = capsys.readouterr().out
    assert "onnxruntime-cuda not checked: CUDA unusable" in out
    assert "torchscript-cuda not checked: CUDA unusable" in out
    assert (folder / "manifest.json").read_bytes() == before  # nothing ran: nothing recorded


# --- on a real GPU (skipped here) -----------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_torchscript_file_runs_on_cuda_like_on_cpu(pristine: Path) -> None:
    data = (pristine / PT_NAME).read_bytes()
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(TorchScriptRunner(data, "cuda").infer(x),
                               TorchScriptRunner(data, "cpu").infer(x), atol=1e-5, rtol=1e-4)


@pytest.mark.skipif(not devices.ort_cuda_available(),
                    reason="onnxruntime has no CUDAExecutionProvider (onnxruntime-gpu absent)")
def test_onnx_file_runs_on_onnxruntime_cuda(pristine: Path) -> None:
    data = (pristine / ONNX_NAME).read_bytes()
    runner = OrtRunner(data, "cuda")  # raises if the session fell back to the CPU
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(runner.infer(x), OrtRunner(data, "cpu").infer(x), atol=1e-5,
                               rtol=1e-4)
