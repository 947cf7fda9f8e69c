"""An artifact folder: its paths, its lock, its manifest, its SHA256SUMS (the commit protocol of
an export, :func:`.commit.commit`, writes through it).

The manifest is only ever rewritten whole (temp file + rename) under the folder's exclusive
``flock`` (:mod:`.lock`); readers hold it shared. A manifest may carry ``pending`` entries (a
commit in flight or killed): :meth:`ArtifactFolder.read_manifest` settles them against the model
file on disk, so a reader always sees the old or the new artifact, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from ..errors import ArtifactError
from ..fileio import TMP_PREFIX, sha256_file, write_atomic
from ..fileio.bounded import MANIFEST_MAX_BYTES, read_bounded, sha256_bounded
from .lock import flocked
from .manifest import MANIFEST, WEIGHTS_NAME, Manifest, ManifestEntry
from .parsing import parse_manifest

LOCK_TIMEOUT_S = 120.0
STALE_TMP_S = 0.0  # temp files exist only under the exclusive lock: any found there is dead
SPACE_MARGIN = 1 << 20
SUMS = "SHA256SUMS"
FAILED_DIR = "failed"
MAX_FILE_BYTES = 1 << 30  # no artifact file of this toolkit comes near 1 GiB: never read more


def oserror(e: OSError, what: str, replaced: bool = False) -> ArtifactError:
    """One line for an OSError during a write; says whether the new model is already in place."""
    state = ("the new model file is already in place and recorded as pending in the manifest, "
             "so the folder shows the new artifact; free space and export again to finish"
             if replaced else "nothing was replaced; the folder still holds the previous "
                              "artifact")
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return ArtifactError(f"cannot {what}: no space left on device; {state}")
    if e.errno == errno.EROFS:
        return ArtifactError(f"cannot {what}: read-only file system; {state}")
    where = f" ({e.filename})" if e.filename else ""
    return ArtifactError(f"cannot {what}: {e.strerror or e}{where}; {state}")


class ArtifactFolder:
    """An output folder with its manifest. Paths in the manifest are relative and confined."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def ensure(self) -> None:
        """Create the folder and prove it is writable before any file is replaced."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise oserror(e, f"create output folder {self.root}") from None
        if not self.root.is_dir():
            raise ArtifactError(f"output path {self.root} exists and is not a folder")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ArtifactError(f"output folder {self.root} is not writable")
        try:  # os.access says yes to root on a read-only mount: prove it with a real file
            fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX + "probe.", dir=self.root)
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(probe)
        except OSError as e:
            raise ArtifactError(
                f"output folder {self.root} is not writable: {e.strerror or e}"
            ) from None

    def check_space(self, nbytes: int) -> None:
        """Refuse before writing when the disk cannot hold ``nbytes`` (plus a margin)."""
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            return  # cannot tell: the staged writes still fail before any replace
        need = nbytes + SPACE_MARGIN
        if free < need:
            raise ArtifactError(
                f"not enough space in {self.root}: need {need / 1e6:.1f} MB, "
                f"{free / 1e6:.1f} MB free; nothing was written"
            )

    def remove_stale_temps(self, older_than_s: float = STALE_TMP_S) -> list[str]:
        """Delete ``.tmp-*`` files left by a killed writer. Call under the exclusive lock: every
        writer holds it while its temp files exist, so none found then belongs to a live one."""
        import time

        removed = []
        now = time.time()
        for p in self.root.glob(TMP_PREFIX + "*"):
            with contextlib.suppress(OSError):
                if p.is_file() and now - p.stat().st_mtime >= older_than_s:
                    p.unlink()
                    removed.append(p.name)
        return removed

    def resolve(self, rel: str) -> Path:
        """Path of a manifest-relative file; refuses absolute paths and ones escaping the folder."""
        if not isinstance(rel, str) or not rel or "\0" in rel:
            raise ArtifactError(f"manifest path {rel!r} is not a relative file name")
        p = PurePosixPath(rel)
        if p.is_absolute() or rel.startswith("\\") or ":" in p.parts[0] or ".." in p.parts:
            raise ArtifactError(f"manifest path {rel!r} escapes the artifact folder")
        try:
            full = (self.root / p).resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop
            raise ArtifactError(f"manifest path {rel!r} cannot be resolved: {e}") from None
        if not full.is_relative_to(self.root.resolve()):
            raise ArtifactError(f"manifest path {rel!r} escapes the artifact folder")
        return self.root / p

    def disk_sha(self, entry: ManifestEntry) -> str | None:
        """sha256 of ``entry``'s model file as it is on disk (None when absent or unreadable)."""
        try:
            path = self.resolve(entry.path)
            size = entry.model_file.size
            return sha256_bounded(path, size if size is not None else MAX_FILE_BYTES,
                                  "model file")
        except ArtifactError:  # missing, a FIFO, too large: not the pending artifact
            return None

    # -- locking and the manifest ---------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive: the one writer of the folder."""
        with flocked(self.root, exclusive=True, timeout_s=LOCK_TIMEOUT_S):
            yield

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Shared: readers see one consistent state while they read."""
        with flocked(self.root, exclusive=False, timeout_s=LOCK_TIMEOUT_S):
            yield

    def read_manifest(self, missing_ok: bool = True) -> Manifest:
        """The parsed, validated manifest with pending entries settled against the disk.

        Read once and bounded: a FIFO, a device or a file over ``MANIFEST_MAX_BYTES`` in its
        place is refused unread (it would block or fill memory)."""
        path = self.manifest_path
        if not path.exists() and not path.is_symlink():
            if missing_ok:
                return Manifest()
            raise ArtifactError(f"{path}: no manifest.json (not an artifact folder?)")
        text = manifest_text(read_bounded(path, MANIFEST_MAX_BYTES, "manifest"), path)
        try:
            manifest = parse_manifest(text)
        except ArtifactError as e:
            raise ArtifactError(f"{path}: manifest {e}") from None
        return manifest.settled(self.disk_sha)

    def write_manifest(self, manifest: Manifest) -> None:
        write_atomic(self.manifest_path, manifest.to_json().encode())

    def write_sums(self, manifest: Manifest) -> None:
        """``SHA256SUMS`` of every model and weights file, in the format ``sha256sum -c`` reads."""
        write_atomic(self.root / SUMS, sums_text(manifest).encode())

    def update_manifest(self, change: Callable[[Manifest], Manifest]) -> Manifest:
        """Read-modify-write the manifest under the lock; ``change`` returns the new one."""
        try:
            with self.locked():
                manifest = change(self.read_manifest())
                self.write_manifest(manifest)
                self.write_sums(manifest)
                return manifest
        except OSError as e:
            raise oserror(e, f"update the manifest in {self.root}") from None

    def collect_garbage(self, manifest: Manifest) -> list[str]:
        """Remove content-addressed weights files no entry names (left by replaced exports)."""
        named = {f.path for e in manifest.entries for f in e.files}
        removed = []
        for p in self.root.glob("*.safetensors"):
            if p.name not in named and WEIGHTS_NAME.fullmatch(p.name) and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p.name)
        return removed

    def write_if_changed(self, rel: str, data: bytes, sha: str) -> None:
        path = self.resolve(rel)
        with contextlib.suppress(OSError, ValueError):
            if path.is_file() and sha256_file(path, limit=len(data)) == sha:
                return
        write_atomic(path, data)


def manifest_text(data: bytes, path: Path) -> str:
    """The manifest's bytes as text (one line when they are not UTF-8)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ArtifactError(f"{path}: cannot read manifest: {e}") from None


_SAFE_NAME = re.compile(r"[^\n\r\\]+")


def sums_text(manifest: Manifest) -> str:
    """Lines ``<sha256>  <path>`` (text mode, as sha256sum writes them), sorted by path."""
    records = {f.path: f.sha256 for e in manifest.entries for f in e.files
               if _SAFE_NAME.fullmatch(f.path)}
    return "".join(f"{sha}  {path}\n" for path, sha in sorted(records.items()))


__all__ = ["FAILED_DIR", "LOCK_TIMEOUT_S", "MAX_FILE_BYTES", "STALE_TMP_S", "SUMS",
           "ArtifactFolder", "manifest_text", "oserror", "sums_text"]
