"""The one atomic file writer: temp file beside the target, fsync, rename, user's umask.

Every file this toolkit writes (artifacts, manifest, bench results, plots, reports) goes
through :func:`write_atomic` or :func:`stage`, so a reader never sees a half-written file and
an interrupted or failed write leaves no temp file behind. ``tempfile.mkstemp`` creates files
with mode 0600; the final file gets ``0666 & ~umask`` instead, as ``open()`` would give it, so a
deployment running as another user can read what was exported under a 022 umask.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

TMP_PREFIX = ".tmp-"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: the classic read-by-setting, restored at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode a plain ``open(path, "w")`` would create: 0666 less the umask."""
    return 0o666 & ~current_umask()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], limit: int | None = None) -> str:
    """sha256 of a file read in 1 MiB blocks (never whole into memory).

    With ``limit``, a file longer than ``limit`` bytes raises :class:`ValueError` before it is
    read to its end: callers hashing files named by an untrusted manifest cap the work.
    """
    h = hashlib.sha256()
    total = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            total += len(block)
            if limit is not None and total > limit:
                raise ValueError(f"longer than {limit} bytes")
            h.update(block)
    return h.hexdigest()


def stage(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> str:
    """Write ``data`` to a temp file beside ``path``; the caller renames or unlinks it.

    Every byte is on disk (fsynced) before anything is replaced, so a full disk fails here, not
    halfway. The temp file is removed on any exception, KeyboardInterrupt and SIGTERM included.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), file_mode())
            if fsync:
                os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_atomic(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True,
                 make_parents: bool = False) -> Path:
    """Replace ``path`` with ``data`` atomically: readers see the old file or the new one."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = stage(path, data, fsync=fsync)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(path.parent)
    return path


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename durable: fsync the folder holding it (best effort where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["TMP_PREFIX", "file_mode", "fsync_dir", "sha256_bytes", "sha256_file", "stage",
           "write_atomic"]
