"""Silence torch's exporters and loaders (progress prints, warnings, log lines), keeping what
they said for error messages. Shared by export and runtime."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch.fx", "onnxscript")


@contextlib.contextmanager
def quiet(captured: io.StringIO | None = None) -> Iterator[io.StringIO]:
    """Redirect stdout, ignore warnings and raise torch.onnx's log level while exporting."""
    buf = captured if captured is not None else io.StringIO()
    loggers = [logging.getLogger(n) for n in _LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
            warnings.simplefilter("ignore")
            yield buf
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
