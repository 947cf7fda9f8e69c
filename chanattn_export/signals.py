"""SIGTERM takes the same clean path as Ctrl-C, and no library may swallow either.

Python turns SIGINT into :class:`KeyboardInterrupt`; SIGTERM (``kill``, a CI timeout, a container
stop) would end the process at once, skipping ``finally:`` blocks and leaving temp files behind.
Inside :func:`interrupts_as_exceptions` it raises :class:`Terminated`, a ``KeyboardInterrupt``, so
``write_atomic`` unlinks its temp file, the folder lock is released, and the CLI prints one
line. SIGKILL cannot be caught: its leftovers are cleaned by the next commit (artifacts.commit).

A signal can land inside a library that catches it: torch wraps errors raised while it imports
``torch._dynamo`` in its own exception types. :func:`interrupt_in` finds the interrupt in such an
exception's chain, and :func:`raise_if_received` re-raises one that a library swallowed whole,
so an exporter failure is never confused with an interrupt (no fallback, no artifact).
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


_received: list[int] = []  # signals delivered inside the block (main thread only)


def exit_code(exc: KeyboardInterrupt) -> int:
    """Shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def _raise_terminated(signum: int, _frame: object) -> None:
    _received.append(signum)
    raise Terminated(signum)


def _raise_interrupt(signum: int, _frame: object) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def interrupt_in(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or :class:`Terminated`) ``exc`` is or wraps, if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, KeyboardInterrupt):
            return e
        todo.extend((e.__cause__, e.__context__))
        todo.extend(x for x in getattr(e, "exceptions", ()) if isinstance(x, BaseException))
    return None


def raise_if_received() -> None:
    """Re-raise a signal delivered inside :func:`interrupts_as_exceptions` that a library
    swallowed (caught and carried on)."""
    if _received:
        signum = _received[-1]
        raise Terminated(signum) if signum != signal.SIGINT else KeyboardInterrupt()


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` and SIGINT ``KeyboardInterrupt``,
    both remembered; the old handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    _received.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        _received.clear()


__all__ = ["Terminated", "exit_code", "interrupt_in", "interrupts_as_exceptions",
           "raise_if_received"]
