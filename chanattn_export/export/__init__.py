"""Exporters: an eager model + an :class:`ExportSpec` -> the file's bytes. Nothing is written here.

:func:`export_bytes` picks the exporter for ``spec.format``; writing the bytes is
``artifacts``' job, so a failed export or parity check never leaves a file behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._version import __version__
from ..spec import ExportSpec, Format

if TYPE_CHECKING:
    from torch import nn

TRACE = "trace"  # the "exporter" recorded for TorchScript files


@dataclass(frozen=True)
class Exported:
    """The file's bytes and how they were made."""

    data: bytes
    exporter: str  # "dynamo" / "legacy" for ONNX (AUTO resolved), "trace" for TorchScript
    fallback_reason: str | None = None
    rewrites: tuple[str, ...] = ()  # ONNX: the runtime-oriented rewrites the graph carries


def export_bytes(net: nn.Module, spec: ExportSpec, registered: bool = True) -> Exported:
    """Export ``net`` (eval mode, CPU) in ``spec.format``; ``registered=False`` for a user's
    network, whose spec names no registered block."""
    from ..models import fold_for_export
    from ..registry import check_input

    if registered:  # also for specs built without api.make_export_spec
        check_input(spec.model, spec.input)
    net = fold_for_export(net)  # BatchNorm after a conv becomes one conv; parity uses the original
    if spec.format is Format.ONNX:
        from .onnx import export_onnx_bytes

        res = export_onnx_bytes(net, spec, __version__)
        return Exported(res.data, str(res.exporter), res.fallback_reason, res.rewrites)
    if spec.format is Format.PT2:
        from .pt2 import EXPORTER, export_pt2_bytes

        return Exported(export_pt2_bytes(net, spec), EXPORTER)
    from .torchscript import export_torchscript_bytes

    return Exported(export_torchscript_bytes(net, spec), TRACE)


__all__ = ["TRACE", "Exported", "export_bytes"]
