"""The folder lock: ``flock`` on the artifact folder itself, so no lock file ships inside it.

Writers take it exclusive, readers (``verify``, ``parity DIR``) shared, so a reader never sees
the manifest of one commit and the model file of another. The kernel releases an ``flock`` when
its process dies, SIGKILL included, so a killed run never blocks the next one. Two descriptors
opened separately conflict even within one process (threads are safe too). POSIX only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ArtifactError

POLL_S = 0.02


@contextlib.contextmanager
def flocked(root: Path, *, exclusive: bool, timeout_s: float) -> Iterator[None]:
    """Hold ``flock`` on the folder ``root`` (exclusive or shared) for the block."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        raise ArtifactError("locking an artifact folder needs a POSIX system (flock)") from None
    try:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as e:
        raise ArtifactError(f"cannot open folder {root} to lock it: {e.strerror or e}") from None
    try:
        op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                break
            except OSError as e:  # BlockingIOError (EAGAIN) while another holder has it
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise ArtifactError(f"cannot lock folder {root}: {e.strerror or e}") \
                        from None
                if time.monotonic() >= deadline:
                    raise ArtifactError(f"{root}: another process held the folder lock for "
                                        f"{timeout_s:.0f} s") from None
                time.sleep(POLL_S)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


__all__ = ["flocked"]
