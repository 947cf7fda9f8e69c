"""The runner of torch.export programs (``.pt2``), loaded with ``torch.export.load``."""

from __future__ import annotations

import io

from ..errors import ArtifactError
from ..spec import Backend, Device
from .runners import _TorchRunner
from .validation import Expected


def load_program(data: bytes):
    """A saved torch.export program's callable module (what parity and ``bench`` run).

    Loading unpickles: load only files whose checksum matched.
    """
    import torch

    from ..errors import first_line
    from ..quiet import quiet

    try:
        with quiet():
            return _Fixed(torch.export.load(io.BytesIO(data)).module())
    except Exception as e:
        raise ArtifactError(f"cannot load torch.export program: {first_line(e)}") from e


class ExportedProgramRunner(_TorchRunner):
    """A saved torch.export program, run on the CPU. Load only files whose checksum matched."""

    backend = Backend.TORCH_EXPORT
    NAME = Backend.TORCH_EXPORT.on(Device.CPU)  # "torch-export-cpu"

    def __init__(self, data: bytes, expected: Expected | None = None) -> None:
        super().__init__(load_program(data), Device.CPU, expected)


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


__all__ = ["ExportedProgramRunner", "load_program"]
