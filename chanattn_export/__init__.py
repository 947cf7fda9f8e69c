"""chanattn_export: channel-attention blocks from eager PyTorch to verified deployable files.

Attributes are resolved lazily, so ``import chanattn_export`` loads neither torch, onnx nor
onnxruntime until a function that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import (
    ArtifactError,
    ChanAttnError,
    ExportError,
    InputError,
    InvalidSpecError,
    LocalizeError,
    MissingDependencyError,
    ParityError,
    UnknownModelError,
    WeightsError,
)
from .spec import Exporter, ExportSpec, Format, InputSpec, Layout, ModelSpec, Tolerance

_LAZY = {
    "create_model": "registry",
    "list_models": "registry",
    "get_model_info": "registry",
    "export_onnx": "api",
    "export_torchscript": "api",
    "export_pt2": "api",
    "check_parity": "api",
    "make_export_spec": "api",
    "ExportResult": "pipeline",
    "export_artifact": "pipeline",
    "ParityReport": "check.parity",
    "ArtifactFolder": "artifacts",
    "swap_attention": "network.swap",
    "localize": "check.localize",
}

__all__ = [
    "ArtifactError",
    "ChanAttnError",
    "ExportError",
    "ExportSpec",
    "Exporter",
    "Format",
    "InputError",
    "InputSpec",
    "InvalidSpecError",
    "Layout",
    "LocalizeError",
    "MissingDependencyError",
    "ModelSpec",
    "ParityError",
    "Tolerance",
    "UnknownModelError",
    "WeightsError",
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chanattn_export' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
