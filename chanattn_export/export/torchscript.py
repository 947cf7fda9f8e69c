"""TorchScript export: trace, freeze, save. Frozen modules are bit-exact with eager.

``optimize_for_inference`` is deliberately not applied: on this stack it slowed small batches
and produced files that could not be loaded back (docs/design-notes.md).
"""

from __future__ import annotations

import io

import torch
from torch import nn

from ..errors import ExportError, first_line
from ..quiet import quiet
from ..spec import ExportSpec
from .onnx import example_input


def export_torchscript_bytes(model: nn.Module, spec: ExportSpec) -> bytes:
    """Trace ``model`` at the trace batch, freeze it, and return ``torch.jit.save`` bytes."""
    try:
        with quiet(), torch.no_grad():
            traced = torch.jit.trace(model, (example_input(spec),), check_trace=False)
            frozen = torch.jit.freeze(traced.eval())
            buf = io.BytesIO()
            torch.jit.save(frozen, buf)
    except Exception as e:
        raise ExportError(f"TorchScript export failed: {first_line(e)}") from e
    return buf.getvalue()
