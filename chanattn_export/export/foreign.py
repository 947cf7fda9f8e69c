"""Code this toolkit runs but did not write: a user's ``--network``, a plugin's block.

Its ``forward`` (or a hook, or ``__deepcopy__``) may call ``sys.exit()``. Unchecked, that ends
the caller's process, or makes ``python -m chanattn_export`` exit 0 having written nothing. The
export road turns it into the toolkit's error; no artifact has been committed by then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InvalidSpecError

F = TypeVar("F", bound=Callable[..., Any])


def cannot_exit(fn: F) -> F:
    """Run ``fn``; a ``SystemExit`` raised inside it is an :class:`InvalidSpecError`."""
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SystemExit as e:
            raise InvalidSpecError(f"the model's code (your network or a plugin block) called "
                                   f"sys.exit({e.code!r}) during the export; nothing was "
                                   "written") from None

    return call  # type: ignore[return-value]


__all__ = ["cannot_exit"]
