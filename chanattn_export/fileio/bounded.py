"""Read a file named by an untrusted folder: a regular file only, never more than a cap.

A FIFO in place of a manifest blocks a plain ``open()`` for ever; a symlink to ``/dev/zero`` or a
sparse file of many GB fills memory in a plain ``read()``. So a file is opened without blocking,
must be a regular file (``fstat`` on the open descriptor, so a swap after the check does not
help), is refused before reading when it is larger than the cap, and is read to at most one byte
past the cap (a file growing while it is read is refused too). The bytes returned are the only
ones the caller may check, parse, load or run.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..errors import ArtifactError

MANIFEST_MAX_BYTES = 16 << 20  # a manifest of this toolkit is a few KB per entry
SIGNATURE_MAX_BYTES = 1 << 22  # signature.json: a few KB per artifact listed
SMALL_FILE_MAX_BYTES = 1 << 20  # SHA256SUMS, public keys, other small text files
_CHUNK = 1 << 20


def read_bounded(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The whole content of the regular file ``path`` if it has at most ``limit`` bytes.

    Raises :class:`ArtifactError` (one line naming ``path`` and ``what``) for a missing or
    unreadable file, a FIFO, device, socket or folder, or a file larger than ``limit``.
    """
    chunks: list[bytes] = []
    _stream(Path(path), limit, what, chunks.append)
    return b"".join(chunks)


def sha256_bounded(path: str | os.PathLike[str], limit: int, what: str = "file") -> str:
    """sha256 of the regular file ``path``, read in blocks (never whole into memory), under the
    same rules as :func:`read_bounded`: for files that are hashed but never parsed."""
    h = hashlib.sha256()
    _stream(Path(path), limit, what, h.update)
    return h.hexdigest()


def _stream(p: Path, limit: int, what: str, sink: Callable[[bytes], object]) -> None:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise ArtifactError(f"{p}: {what} is missing") from None
    except OSError as e:
        raise ArtifactError(f"{p}: cannot open the {what}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"{p}: the {what} is not a regular file ({_kind(st.st_mode)}); "
                                "refused without reading it")
        if st.st_size > limit:
            raise ArtifactError(f"{p}: the {what} has {st.st_size} bytes, more than the "
                                f"{limit} allowed; refused without reading it")
        total = 0
        while total <= limit:
            block = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not block:
                break
            total += len(block)
            if total <= limit:
                sink(block)
        if total > limit:
            raise ArtifactError(f"{p}: the {what} grew past the {limit} bytes allowed while "
                                "it was read; refused")
    except OSError as e:
        raise ArtifactError(f"{p}: cannot read the {what}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


__all__ = ["MANIFEST_MAX_BYTES", "SIGNATURE_MAX_BYTES", "SMALL_FILE_MAX_BYTES", "read_bounded",
           "sha256_bounded"]
