"""SIGTERM takes the same clean path as Ctrl-C.

Python turns SIGINT into :class:`KeyboardInterrupt`; SIGTERM (``kill``, a CI timeout, a container
stop) would end the process at once, skipping ``finally:`` blocks and leaving temp files behind.
Inside :func:`interrupts_as_exceptions` it raises :class:`Terminated`, a ``KeyboardInterrupt``, so
``write_atomic`` unlinks its temp file, the manifest lock is released, and the CLI prints one
line. SIGKILL cannot be caught: its leftovers are cleaned by the next commit (artifacts.py).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(exc: KeyboardInterrupt) -> int:
    """Shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`; the old handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["Terminated", "exit_code", "interrupts_as_exceptions"]
