"""The runner of torch.export programs (``.pt2``), loaded with ``torch.export.load``."""

from __future__ import annotations

import io

from ..errors import ArtifactError
from ..spec import Backend, Device
from ..validation import Expected
from .runners import _TorchRunner


class ExportedProgramRunner(_TorchRunner):
    """A saved torch.export program, run on the CPU. Load only files whose checksum matched."""

    backend = Backend.EAGER  # runs as an eager GraphModule; its own name is set below
    NAME = "torch-export-cpu"

    def __init__(self, data: bytes, expected: Expected | None = None) -> None:
        import torch

        from ..export._quiet import first_line, quiet

        try:
            with quiet():
                module = torch.export.load(io.BytesIO(data)).module()
        except Exception as e:
            raise ArtifactError(f"cannot load torch.export program: {first_line(e)}") from e
        super().__init__(_Fixed(module), Device.CPU, expected)
        self.name = self.NAME


class _Fixed:
    """torch.export modules refuse ``.eval()`` (train/eval is fixed at export): a thin holder."""

    def __init__(self, module) -> None:
        self.module = module

    def to(self, device: str) -> _Fixed:
        return self

    def eval(self) -> _Fixed:
        return self

    def __call__(self, x):
        return self.module(x)


__all__ = ["ExportedProgramRunner"]
