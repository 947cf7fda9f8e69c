"""The public Python API: one function per export format, plus parity re-checks."""

from __future__ import annotations

import os

from .pipeline import ExportResult, Progress, RecheckResult, export_artifact, recheck_folder
from .registry import check_input, make_spec
from .spec import DEFAULT_OPSET, Exporter, ExportSpec, Format, InputSpec, Layout, Tolerance


def make_export_spec(model: str = "cbam-channel", *, fmt: Format | str = Format.ONNX,
                     channels: int = 64, ratio: int | None = None,
                     layout: Layout | str = Layout.NCHW, batch: int = 1, height: int = 56,
                     width: int = 56, dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                     exporter: Exporter | str = Exporter.AUTO) -> ExportSpec:
    """Validated :class:`ExportSpec`; raises :class:`InvalidSpecError` naming the bad value."""
    spec = ExportSpec(
        model=make_spec(model, channels, ratio, layout),
        input=InputSpec(batch=batch, height=height, width=width, dynamic_hw=dynamic_hw),
        format=fmt, opset=opset, exporter=exporter,
    )
    check_input(spec.model, spec.input)
    return spec


def export_onnx(model: str = "cbam-channel", *, channels: int = 64, ratio: int | None = None,
                layout: Layout | str = Layout.NCHW, batch: int = 1, height: int = 56,
                width: int = 56, dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                exporter: Exporter | str = Exporter.AUTO,
                weights: str | os.PathLike[str] | None = None, seed: int = 0,
                out: str | os.PathLike[str] = "artifacts", atol: float = 1e-5,
                rtol: float = 1e-4, progress: Progress | None = None) -> ExportResult:
    """Export to ONNX, check parity against eager PyTorch, and record it in ``out``.

    The result's ``parity.passed`` says whether the file computes the eager function; a failed
    artifact is still written and marked ``"status": "failed"`` in the manifest.
    """
    spec = make_export_spec(model, fmt=Format.ONNX, channels=channels, ratio=ratio,
                            layout=layout, batch=batch, height=height, width=width,
                            dynamic_hw=dynamic_hw, opset=opset, exporter=exporter)
    return export_artifact(spec, out, weights=weights, seed=seed,
                           tolerance=Tolerance(atol, rtol), progress=progress)


def export_torchscript(model: str = "cbam-channel", *, channels: int = 64,
                       ratio: int | None = None, layout: Layout | str = Layout.NCHW,
                       batch: int = 1, height: int = 56, width: int = 56,
                       dynamic_hw: bool = False,
                       weights: str | os.PathLike[str] | None = None, seed: int = 0,
                       out: str | os.PathLike[str] = "artifacts", atol: float = 1e-5,
                       rtol: float = 1e-4, progress: Progress | None = None) -> ExportResult:
    """Trace, freeze and save a TorchScript module; check parity; record it in ``out``."""
    spec = make_export_spec(model, fmt=Format.TORCHSCRIPT, channels=channels, ratio=ratio,
                            layout=layout, batch=batch, height=height, width=width,
                            dynamic_hw=dynamic_hw)
    return export_artifact(spec, out, weights=weights, seed=seed,
                           tolerance=Tolerance(atol, rtol), progress=progress)


def check_parity(out: str | os.PathLike[str] = "artifacts", *, atol: float | None = None,
                 rtol: float | None = None) -> list[RecheckResult]:
    """Re-run parity for every artifact in ``out`` from its manifest and weights."""
    given = {k: v for k, v in (("atol", atol), ("rtol", rtol)) if v is not None}
    return recheck_folder(out, tolerance=Tolerance(**given) if given else None)
