"""What software produced a result: the version record written into manifests and bench files."""

from __future__ import annotations

import platform

from ._version import __version__

OPTIONAL = ("onnx", "onnxruntime", "onnxscript")


def versions() -> dict[str, str]:
    """Versions of python, torch and the optional runtimes ("not installed" where absent)."""
    import torch

    out = {"chanattn_export": __version__, "python": platform.python_version(),
           "torch": torch.__version__}
    for mod in OPTIONAL:
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = "not installed"
    return out


__all__ = ["versions"]
