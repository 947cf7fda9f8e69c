"""torch.export programs (``.pt2``): the successor of TorchScript, loaded with torch.export.load.

The program is exported with the batch (and H/W when asked) as symbolic dims, traced at a batch
of >= 2 (torch.export specialises a batch of 1), and saved with ``torch.export.save``.
"""

from __future__ import annotations

import io

import torch
from torch import nn

from ..errors import ExportError, first_line
from ..quiet import quiet
from ..spec import ExportSpec
from .onnx import example_input

EXPORTER = "torch.export"


def export_pt2_bytes(model: nn.Module, spec: ExportSpec) -> bytes:
    """``torch.export.export`` with the spec's dynamic dims, then ``torch.export.save`` bytes."""
    from torch.export import Dim

    dims = {axis: Dim(name, min=1)
            for axis, name in spec.input.dynamic_axes(spec.model.layout).items()}
    try:
        with quiet(), torch.no_grad():
            program = torch.export.export(model, (example_input(spec),),
                                          dynamic_shapes=(dims,) if dims else None)
            buf = io.BytesIO()
            torch.export.save(program, buf)
    except Exception as e:
        raise ExportError(f"torch.export failed: {first_line(e)}") from e
    return buf.getvalue()
