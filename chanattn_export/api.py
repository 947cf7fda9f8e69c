"""The public Python API: one function per export format, plus parity re-checks.

Defaults live in the spec dataclasses (``spec.DEFAULT_*``); these functions only name them.
"""

from __future__ import annotations

import os

from .pipeline import Devices, ExportResult, Progress, export_artifact, recheck_folder
from .recheck import EntryCheck
from .registry import check_input, hidden_from_weights, make_spec
from .spec import (
    DEFAULT_CHANNELS,
    DEFAULT_OPSET,
    DEFAULT_SIZE,
    Exporter,
    ExportSpec,
    Format,
    InputSpec,
    Layout,
    Tolerance,
)


def make_export_spec(model: str = "cbam-channel", *, fmt: Format | str = Format.ONNX,
                     channels: int = DEFAULT_CHANNELS, ratio: int | None = None,
                     layout: Layout | str = Layout.NCHW, batch: int = 1,
                     height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE,
                     dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                     exporter: Exporter | str = Exporter.AUTO, hidden: int | None = None,
                     preset: str = "default",
                     weights: str | os.PathLike[str] | None = None) -> ExportSpec:
    """Validated :class:`ExportSpec`; raises :class:`InvalidSpecError` naming the bad value.

    With ``weights`` (a file) and no ``hidden``, the hidden width comes from the file's shapes.
    """
    model_spec = make_spec(model, channels, ratio, layout, hidden=hidden, preset=preset)
    if weights is not None:
        from .weights import read_state_dict

        model_spec = hidden_from_weights(model_spec, read_state_dict(weights))
    spec = ExportSpec(
        model=model_spec,
        input=InputSpec(batch=batch, height=height, width=width, dynamic_hw=dynamic_hw),
        format=fmt, opset=opset, exporter=exporter,
    )
    check_input(spec.model, spec.input)
    return spec


def tolerance(atol: float | None = None, rtol: float | None = None) -> Tolerance:
    """:class:`Tolerance` with the given values, the defaults for the rest."""
    return Tolerance(**{k: v for k, v in (("atol", atol), ("rtol", rtol)) if v is not None})


def export_onnx(model: str = "cbam-channel", *, channels: int = DEFAULT_CHANNELS,
                ratio: int | None = None, layout: Layout | str = Layout.NCHW, batch: int = 1,
                height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE, dynamic_hw: bool = False,
                opset: int = DEFAULT_OPSET, exporter: Exporter | str = Exporter.AUTO,
                hidden: int | None = None, preset: str = "default",
                weights: str | os.PathLike[str] | None = None, seed: int = 0,
                out: str | os.PathLike[str] = "artifacts", atol: float | None = None,
                rtol: float | None = None, progress: Progress | None = None,
                devices: Devices = None,
                keep_failed: bool = False) -> ExportResult:
    """Export to ONNX, check parity against eager PyTorch, and record it in ``out``.

    ``devices`` (``"cpu"``, ``"cpu,cuda"``, ...) says where parity runs; the default is the
    CPU plus CUDA where detected, and an unusable CUDA backend is recorded as skipped.

    The result's ``parity.passed`` says whether the file computes the eager function; a failed
    artifact is not written (``written`` is False), or with ``keep_failed`` it is written under
    ``out/failed/`` with its record, never beside the passing artifacts.
    """
    spec = make_export_spec(model, fmt=Format.ONNX, channels=channels, ratio=ratio,
                            layout=layout, batch=batch, height=height, width=width,
                            dynamic_hw=dynamic_hw, opset=opset, exporter=exporter,
                            hidden=hidden, preset=preset, weights=weights)
    return export_artifact(spec, out, weights=weights, seed=seed,
                           tolerance=tolerance(atol, rtol), progress=progress, devices=devices,
                           keep_failed=keep_failed)


def export_torchscript(model: str = "cbam-channel", *, channels: int = DEFAULT_CHANNELS,
                       ratio: int | None = None, layout: Layout | str = Layout.NCHW,
                       batch: int = 1, height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE,
                       dynamic_hw: bool = False, hidden: int | None = None,
                       preset: str = "default",
                       weights: str | os.PathLike[str] | None = None, seed: int = 0,
                       out: str | os.PathLike[str] = "artifacts", atol: float | None = None,
                       rtol: float | None = None, progress: Progress | None = None,
                       devices: Devices = None,
                       keep_failed: bool = False) -> ExportResult:
    """Trace, freeze and save a TorchScript module; check parity; record it in ``out``."""
    spec = make_export_spec(model, fmt=Format.TORCHSCRIPT, channels=channels, ratio=ratio,
                            layout=layout, batch=batch, height=height, width=width,
                            dynamic_hw=dynamic_hw, hidden=hidden, preset=preset,
                            weights=weights)
    return export_artifact(spec, out, weights=weights, seed=seed,
                           tolerance=tolerance(atol, rtol), progress=progress, devices=devices,
                           keep_failed=keep_failed)


def export_pt2(model: str = "cbam-channel", *, channels: int = DEFAULT_CHANNELS,
               ratio: int | None = None, layout: Layout | str = Layout.NCHW,
               batch: int = 1, height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE,
               dynamic_hw: bool = False, hidden: int | None = None, preset: str = "default",
               weights: str | os.PathLike[str] | None = None,
               seed: int = 0, out: str | os.PathLike[str] = "artifacts",
               atol: float | None = None, rtol: float | None = None,
               progress: Progress | None = None, devices: Devices = None,
               keep_failed: bool = False) -> ExportResult:
    """Export a torch.export program (``.pt2``); check parity (on the CPU: programs are not
    checked on CUDA yet, whatever ``devices`` says); record it in ``out``."""
    spec = make_export_spec(model, fmt=Format.PT2, channels=channels, ratio=ratio,
                            layout=layout, batch=batch, height=height, width=width,
                            dynamic_hw=dynamic_hw, hidden=hidden, preset=preset,
                            weights=weights)
    return export_artifact(spec, out, weights=weights, seed=seed,
                           tolerance=tolerance(atol, rtol), progress=progress, devices=devices,
                           keep_failed=keep_failed)


def check_parity(out: str | os.PathLike[str] = "artifacts", *, atol: float | None = None,
                 rtol: float | None = None,
                 progress: Progress | None = None, devices: Devices = None,
                 trust_torchscript: bool = False) -> list[EntryCheck]:
    """Re-run parity for every artifact in ``out`` from its manifest and weights files.

    TorchScript files are programs: loaded only with ``trust_torchscript`` (see README)."""
    return recheck_folder(out, tolerance=tolerance(atol, rtol), progress=progress,
                          devices=devices, trust_torchscript=trust_torchscript)
