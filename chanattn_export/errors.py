"""One exception family for everything a user can get wrong.

User errors (bad parameters, bad files, failed checks) derive from :class:`ChanAttnError` and are
printed by the CLI as one line without a traceback. Anything else escaping is a bug in this package.
"""

from __future__ import annotations


class ChanAttnError(Exception):
    """Base class of the toolkit's own, user-facing errors."""


class InvalidSpecError(ChanAttnError, ValueError):
    """A model, input or export parameter is out of range or of the wrong type."""


class UnknownModelError(InvalidSpecError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(ChanAttnError):
    """A weights file is unreadable, unsafe, or does not match the model."""


class ExportError(ChanAttnError):
    """An exporter failed on this model or the installed torch."""


class MissingDependencyError(ChanAttnError, ImportError):
    """An optional dependency (onnxruntime, CUDA, ...) is not available."""


class DeviceUnusableError(MissingDependencyError):
    """A backend on a GPU that was detected or asked for cannot run here: its libraries are
    missing, onnxruntime fell back to the CPU, or a kernel failed. Parity records it as a
    skipped backend with this reason, never as a failure of the exported file."""

    def __init__(self, backend: str, reason: str, requested: bool = False) -> None:
        super().__init__(f"{backend} not checked: CUDA unusable here: {reason}")
        self.backend, self.reason, self.requested = backend, reason, requested


class ArtifactError(ChanAttnError):
    """An artifact folder, manifest or file is missing, corrupted or inconsistent."""


class ParityError(ChanAttnError):
    """An exported model does not compute the same function as eager PyTorch
    (raised by ``ExportResult.raise_for_status()``; the CLI reports it as exit 1)."""


class InputError(ChanAttnError, ValueError):
    """A tensor handed to a runner has the wrong rank, shape, dtype or layout."""


class LocalizeError(ChanAttnError):
    """A divergence cannot be localised in this file (e.g. a legacy export, whose nodes keep
    no link to torch's graph), with this module or this input; the message says why."""


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception, for one-line messages."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(e).__name__
