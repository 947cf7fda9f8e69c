"""Optional dependencies of the bench extra, imported where used with a clear message."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError


def require(module: str, purpose: str, hint: str = "") -> ModuleType:
    """Import ``module`` or raise a one-line error naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = f"; {hint}" if hint else ""
        raise MissingDependencyError(
            f"{top} is needed for {purpose}: pip install 'chanattn_export[bench]'{extra}"
        ) from None
