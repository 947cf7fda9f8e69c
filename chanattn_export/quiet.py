"""Silence torch's exporters and loaders (progress prints, warnings, log lines), keeping what
they said for error messages. Shared by export and runtime.

What they said is kept, not dropped: :func:`quiet` yields the buffer, and the exporters log it
to the ``chanattn_export`` logger at DEBUG level when they fall back, which ``--verbose``
shows (docs/runtimes.md). Without it, a fallback is the one ``note:`` line of the export.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import warnings
from collections.abc import Iterator

_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch.fx", "onnxscript")
_PREFIXES = ("torch", "onnxscript")  # loggers whose own handlers would print to stderr
LOG = logging.getLogger("chanattn_export")  # details for --verbose (the CLI adds a handler)


class _ToBuffer(logging.Handler):
    """Writes a record into the calling thread's :func:`quiet` buffer (none: dropped)."""

    def emit(self, record: logging.LogRecord) -> None:
        buf = getattr(_local, "buf", None)
        if buf is not None:
            buf.write(self.format(record) + "\n")


_local = threading.local()
_lock = threading.Lock()
_handler = _ToBuffer()
_handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
_swapped: list[tuple[logging.Logger, list[logging.Handler]]] = []
_users = 0


@contextlib.contextmanager
def _captured_logs(buf: io.StringIO) -> Iterator[None]:
    """Every handler torch (or onnxscript) attached to its loggers writes into ``buf`` instead
    of stderr: torch._guards alone logged ~32 lines of traceback when dynamo could not export a
    dynamic H/W, before the legacy exporter took over. Nested and concurrent uses share one
    swap (the first swaps, the last restores); each thread's records go to its own buffer."""
    global _users
    before = getattr(_local, "buf", None)
    _local.buf = buf
    with _lock:
        if _users == 0:
            for name, lg in list(logging.Logger.manager.loggerDict.items()):
                if isinstance(lg, logging.Logger) and lg.handlers \
                        and name.split(".")[0] in _PREFIXES:
                    _swapped.append((lg, lg.handlers[:]))
                    lg.handlers[:] = [_handler]
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for lg, handlers in _swapped:
                    lg.handlers[:] = handlers
                _swapped.clear()
        _local.buf = before


@contextlib.contextmanager
def quiet(captured: io.StringIO | None = None) -> Iterator[io.StringIO]:
    """Redirect stdout and torch's log handlers into a buffer, ignore warnings and raise
    torch.onnx's log level while exporting."""
    buf = captured if captured is not None else io.StringIO()
    loggers = [logging.getLogger(n) for n in _LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(buf), _captured_logs(buf):
            warnings.simplefilter("ignore")
            yield buf
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
