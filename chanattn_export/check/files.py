"""The bytes of a folder's files, read once each, bounded, and checked before any use.

A file is opened only if the manifest's path stays inside the folder, read only if it is a
regular file no larger than the size the manifest records, and handed on only if its sha256 is
the manifest's (and, for a signed folder, the signature's). The bytes returned are the ones
checked: nothing is parsed, loaded or run from a second read of the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..artifacts import MANIFEST, ArtifactFolder, FileRecord, sha256_bytes
from ..artifacts.folder import MAX_FILE_BYTES
from ..errors import ChanAttnError
from ..fileio.bounded import read_bounded

FileCache = dict[str, "bytes | None"]
SIGNED_CHANGED = "changed since the folder was signed"


def checked_bytes(folder: ArtifactFolder, record: FileRecord, cache: FileCache,
                  add: Callable[[str, str], None],
                  signed: Mapping[str, str] | None = None) -> bytes | None:
    """The file's bytes when they match the record (and the signed digest, when ``signed``);
    each bad file is reported once through ``add(path, message)``."""
    rel, sha = record.path, record.sha256
    key = f"{rel}\0{sha}"
    if key in cache:
        return cache[key]
    cache[key] = None
    try:
        path = folder.resolve(rel)
    except ChanAttnError as e:
        add(MANIFEST, str(e))
        return None
    if not path.exists() or path.is_dir():
        add(rel, "missing (named in the manifest)")
        return None
    limit = min(record.size if record.size is not None else MAX_FILE_BYTES, MAX_FILE_BYTES)
    try:
        on_disk = path.stat().st_size
    except OSError as e:
        add(rel, f"unreadable: {e.strerror or e}")
        return None
    if on_disk > limit:  # checked before reading: a sparse 8 GB file costs nothing
        add(rel, f"{on_disk} bytes on disk, more than {limit} (the manifest's size, at most "
                 f"{MAX_FILE_BYTES}): corrupted or changed; not read")
        return None
    try:
        raw = read_bounded(path, limit, "file")
    except ChanAttnError as e:  # a FIFO, a device, a file that grew: never read past the cap
        add(rel, str(e).removeprefix(f"{path}: "))
        return None
    digest = sha256_bytes(raw)
    if digest != sha:
        add(rel, f"sha256 differs from the manifest ({len(raw)} bytes on disk): truncated, "
                 "corrupted or changed")
        return None
    if signed is not None and signed.get(rel) != digest:
        add(rel, SIGNED_CHANGED)
        return None
    cache[key] = raw
    return raw


__all__ = ["SIGNED_CHANGED", "FileCache", "checked_bytes"]
