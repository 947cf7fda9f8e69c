"""The only writer of an artifact folder: atomic files, sha256 checksums, one manifest.json.

Write order keeps the folder consistent at every instant, even under SIGKILL:
weights (content-addressed, never overwritten with other bytes) -> drop the old manifest entry
-> atomically replace the model file -> add the new entry. The manifest is only ever rewritten
whole via temp file + rename, under a lock file (``flock``: released by the kernel when a
process dies, so a killed run never blocks the next one).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from ..errors import ArtifactError
from ..fileio import TMP_PREFIX, sha256_bytes, sha256_file, stage, write_atomic
from .manifest import MANIFEST, Manifest, ManifestEntry
from .parsing import parse_manifest

LOCK_TIMEOUT_S = 120.0
STALE_TMP_S = 30.0  # every writer holds the lock while its temp files exist; older ones are dead
SPACE_MARGIN = 1 << 20


def _oserror(e: OSError, what: str) -> ArtifactError:
    if e.errno == errno.ENOSPC:
        return ArtifactError(f"cannot {what}: no space left on device; nothing was replaced")
    if e.errno == errno.EROFS:
        return ArtifactError(f"cannot {what}: read-only file system; nothing was replaced")
    return ArtifactError(f"cannot {what}: {e.strerror or e} ({e.filename or ''})".rstrip(" ()"))


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
            raise _oserror(e, f"create output folder {self.root}") from None
        if not self.root.is_dir():
            raise ArtifactError(f"output path {self.root} exists and is not a folder")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ArtifactError(f"output folder {self.root} is not writable")
        try:  # os.access says yes to root on a read-only mount: prove it with a real file
            fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX + "probe.", dir=self.root)
            os.close(fd)
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
        """Delete ``.tmp-*`` files left by a killed writer (call under the lock)."""
        removed = []
        now = time.time()
        for p in self.root.glob(TMP_PREFIX + "*"):
            with contextlib.suppress(OSError):
                if p.is_file() and now - p.stat().st_mtime > older_than_s:
                    p.unlink()
                    removed.append(p.name)
        return removed

    def resolve(self, rel: str) -> Path:
        """Path of a manifest-relative file; refuses absolute paths and ones escaping the folder."""
        if not isinstance(rel, str) or not rel:
            raise ArtifactError(f"manifest path {rel!r} is not a relative file name")
        p = PurePosixPath(rel)
        if p.is_absolute() or rel.startswith("\\") or ":" in p.parts[0] or ".." in p.parts:
            raise ArtifactError(f"manifest path {rel!r} escapes the artifact folder")
        full = (self.root / p).resolve()
        if not full.is_relative_to(self.root.resolve()):
            raise ArtifactError(f"manifest path {rel!r} escapes the artifact folder")
        return self.root / p

    # -- manifest -------------------------------------------------------------------------

    def read_manifest(self, missing_ok: bool = True) -> Manifest:
        """The parsed, validated manifest (empty when absent and ``missing_ok``)."""
        path = self.manifest_path
        if not path.exists():
            if missing_ok:
                return Manifest()
            raise ArtifactError(f"{path}: no manifest.json (not an artifact folder?)")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ArtifactError(f"{path}: cannot read manifest: {e}") from None
        try:
            return parse_manifest(text)
        except ArtifactError as e:
            raise ArtifactError(f"{path}: manifest {e}") from None

    def _write_manifest(self, manifest: Manifest) -> None:
        write_atomic(self.manifest_path, manifest.to_json().encode())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.root / (MANIFEST + ".lock")), timeout=LOCK_TIMEOUT_S)
        try:
            with lock:
                yield
        except Timeout:
            raise ArtifactError(
                f"{self.root}: another export held the manifest lock for {LOCK_TIMEOUT_S:.0f} s"
            ) from None

    def update_manifest(self, change: Callable[[Manifest], Manifest]) -> Manifest:
        """Read-modify-write the manifest under the lock; ``change`` returns the new one."""
        with self.locked():
            manifest = change(self.read_manifest())
            self._write_manifest(manifest)
            return manifest

    # -- committing an export -------------------------------------------------------------

    def commit(self, entry: ManifestEntry, files: dict[str, bytes]) -> ManifestEntry:
        """Write ``files`` (name -> bytes) and record ``entry`` for ``entry.path``.

        ``entry.files`` must list every file with its sha256; the weights may be shared by
        several entries, so they are content-addressed and only ever written once.
        """
        self.ensure()
        model_rel = entry.path
        for f in entry.files:
            if sha256_bytes(files[f.path]) != f.sha256:
                raise ArtifactError(f"internal: checksum of {f.path} changed before writing")
        model_path = self.resolve(model_rel)
        tmp: str | None = None
        try:
            with self.locked():
                self.remove_stale_temps()
                manifest = self.read_manifest()
                size = len(manifest.to_json()) + len(json.dumps(entry.to_dict()))
                self.check_space(sum(len(b) for b in files.values()) + 2 * size)
                for f in entry.files:
                    if f.path != model_rel:
                        self._write_if_changed(f.path, files[f.path], f.sha256)
                # All model bytes are on disk (a full disk fails here) before anything changes.
                tmp = stage(model_path, files[model_rel])
                # Drop the old entry first: if we die after replacing the model file, the
                # manifest must not name it with its old checksum.
                if manifest.get(model_rel) is not None:
                    manifest = manifest.without(model_rel)
                    self._write_manifest(manifest)
                os.replace(tmp, model_path)
                tmp = None
                self._write_manifest(manifest.with_entry(entry))
        except OSError as e:
            raise _oserror(e, f"write into {self.root}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return entry

    def _write_if_changed(self, rel: str, data: bytes, sha: str) -> None:
        path = self.resolve(rel)
        if path.is_file() and sha256_file(path) == sha:
            return
        write_atomic(path, data)
