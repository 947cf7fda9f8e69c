"""An export creates its output folder only to write into it: a refused one leaves none behind.

``ArtifactFolder.ensure`` creates ``--out`` (and missing parents) before the export work, so that
a read-only or unwritable place fails before minutes of exporting. When the export is then
refused (an opset the installed onnx cannot write, an input too large, failed parity without
``--keep-failed``, an interrupt), the folders this call created are removed again if they are
still empty. ``rmdir`` removes only empty folders, so nothing anyone wrote is ever touched.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def _missing(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    out = []
    p = folder.absolute()
    while not os.path.lexists(p) and p != p.parent:
        out.append(p)
        p = p.parent
    return out


@contextlib.contextmanager
def no_empty_folder_left(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Within the block, folders created on the way to ``folder`` are removed at the end
    (success, error or interrupt alike) when nothing was written into them."""
    created = _missing(Path(folder))
    try:
        yield
    finally:
        for d in created:
            try:
                d.rmdir()
            except OSError:  # not empty (the export wrote), or not ours to remove: keep it
                break


def leaves_no_empty_folder(param: str = "out") -> Callable[[F], F]:
    """Decorate an export function whose argument ``param`` is its output folder."""
    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            with no_empty_folder_left(bound.arguments[param]):
                return fn(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap


__all__ = ["leaves_no_empty_folder", "no_empty_folder_left"]
