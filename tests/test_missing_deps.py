"""Missing optional parts give one clear message, and everything else keeps working."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from reliability_helpers import TINY

from chanattn_export import ExportError, MissingDependencyError, api
from chanattn_export.check.verify import verify_folder
from chanattn_export.cli import main
from chanattn_export.export import onnx as onnx_export
from chanattn_export.runtime import EagerRunner, OrtRunner, backends_for
from chanattn_export.runtime import devices as runners_mod
from chanattn_export.spec import Format


@pytest.fixture
def no_onnxruntime(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError


def test_no_onnxruntime_onnx_export_says_so_and_writes_nothing(tmp_path: Path,
                                                                no_onnxruntime) -> None:
    with pytest.raises(MissingDependencyError, match="pip install onnxruntime"):
        api.export_onnx("se", out=tmp_path / "art", **TINY)
    assert not list((tmp_path / "art").glob("*.onnx"))


def test_no_onnxruntime_torchscript_still_works(tmp_path: Path, no_onnxruntime) -> None:
    res = api.export_torchscript("se", out=tmp_path / "art", **TINY)
    assert res.passed
    assert verify_folder(tmp_path / "art", trust_torchscript=True) == []


def test_no_onnxruntime_verify_names_the_file(tmp_path: Path, monkeypatch) -> None:
    api.export_onnx("se", out=tmp_path, **TINY)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    problems = [str(p) for p in verify_folder(tmp_path, trust_torchscript=True)]
    assert len(problems) == 1 and "onnxruntime is not installed" in problems[0]


def test_no_onnxruntime_cli_one_line(tmp_path: Path, no_onnxruntime, capsys) -> None:
    code = main(["onnx", "--model", "se", "--out", str(tmp_path), "--channels", "8",
                 "--height", "8", "--width", "8"])
    err = capsys.readouterr().err
    assert code == 2 and "error: onnxruntime is not installed" in err
    assert "Traceback" not in err


def test_no_onnx_package_onnx_export_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(MissingDependencyError, match="pip install onnx onnxscript"):
        api.export_onnx("se", out=tmp_path, **TINY)
    assert api.export_torchscript("se", out=tmp_path, **TINY).passed


def test_no_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runners_mod, "ort_cuda_available", lambda: False)
    assert backends_for(Format.TORCHSCRIPT) == ["torchscript-cpu"]
    assert backends_for(Format.ONNX) == ["onnxruntime-cpu"]
    with pytest.raises(MissingDependencyError, match="no CUDA"):
        EagerRunner(torch.nn.Identity(), "cuda")
    with pytest.raises(MissingDependencyError, match="CUDAExecutionProvider"):
        OrtRunner(b"", "cuda")


def test_opset_newer_than_installed_onnx(tmp_path: Path) -> None:
    import onnx

    too_new = onnx.defs.onnx_opset_version() + 1
    with pytest.raises(ExportError, match=f"opset {too_new} is newer than the installed onnx"):
        api.export_onnx("se", out=tmp_path / "art", opset=too_new, **TINY)
    assert not (tmp_path / "art" / "manifest.json").exists()


def test_dynamo_failure_falls_back_to_legacy(tmp_path: Path, monkeypatch) -> None:
    def broken(*_a, **_k):
        raise RuntimeError("torch.export cannot trace this on the installed torch")

    monkeypatch.setattr(onnx_export, "_dynamo", broken)
    res = api.export_onnx("se", out=tmp_path, **TINY)
    assert res.passed and res.exporter == "legacy"
    assert "cannot trace this" in (res.fallback_reason or "")


def test_every_exporter_failing_is_one_error_and_no_file(tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    def broken(*_a, **_k):
        raise RuntimeError("unsupported operator on this torch")

    monkeypatch.setattr(onnx_export, "_dynamo", broken)
    monkeypatch.setattr(onnx_export, "_legacy", broken)
    code = main(["onnx", "--model", "se", "--out", str(tmp_path / "art"), "--channels", "8",
                 "--height", "8", "--width", "8"])
    err = capsys.readouterr().err
    assert code == 2 and len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1
    assert "Traceback" not in err
    assert "dynamo exporter failed" in err and "legacy exporter failed" in err
    assert not list((tmp_path / "art").glob("*.onnx"))
