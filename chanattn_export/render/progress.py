"""Progress of long commands (N/M per artifact or case) on stderr, without a dependency.

On a terminal one line is rewritten in place; anywhere else (CI logs, a pipe, a file) every
update is a plain line of its own, with no carriage return and no escape code, so a log reads
top to bottom. tqdm writes ``\\r`` into files too, which is why this is not tqdm.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from .text import escape_controls

_CLEAR = "\r\033[K"


class Progress:
    """``[3/20] label`` lines: :meth:`step` advances, :meth:`note` tells what the current step
    is doing, :meth:`clear` makes room before other output on a terminal."""

    def __init__(self, total: int | None, stream: TextIO | None = None, *,
                 tty: bool | None = None, eta: bool = False) -> None:
        self.total, self.done = total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.eta = eta
        self._t0 = time.monotonic()
        self._shown = False

    def _prefix(self) -> str:
        n = min(self.done + 1, self.total) if self.total else self.done + 1
        return f"[{n}/{self.total}]" if self.total else f"[{n}]"

    def _eta(self) -> str:
        if not (self.eta and self.total and self.done):
            return ""
        left = (time.monotonic() - self._t0) / self.done * (self.total - self.done)
        return f" (about {left:.0f} s left)"

    def _show(self, text: str) -> None:
        text = escape_controls(text)  # labels name files from a folder: never raw controls
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write(_CLEAR + text[:width])
            self._shown = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        """What the current step is doing (``exporting x.onnx ...``)."""
        self._show(f"{self._prefix()} {message}")

    def step(self, label: str = "") -> None:
        """One item finished."""
        self.done += 1
        total = f"/{self.total}" if self.total else ""
        self._show(f"[{self.done}{total}] {label}{self._eta()}".rstrip())

    def clear(self) -> None:
        """On a terminal, wipe the progress line so ordinary output starts on a clean line."""
        if self.tty and self._shown:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.clear()


class Silent(Progress):
    """``--no-progress``: the same calls, nothing written."""

    def __init__(self) -> None:
        super().__init__(None, tty=False)

    def _show(self, text: str) -> None:
        pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["Progress", "Silent"]
