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
from typing import Any

from .errors import ArtifactError
from .fileio import TMP_PREFIX, sha256_bytes, sha256_file, stage, write_atomic

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
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

    def read_manifest(self, missing_ok: bool = True) -> dict[str, Any]:
        path = self.manifest_path
        if not path.exists():
            if missing_ok:
                return {"manifest_version": MANIFEST_VERSION, "artifacts": []}
            raise ArtifactError(f"{path}: no manifest.json (not an artifact folder?)")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ArtifactError(f"{path}: cannot read manifest: {e}") from None
        try:
            data = parse_manifest(text)
        except ArtifactError as e:
            raise ArtifactError(f"{path}: manifest {e}") from None
        for i, entry in enumerate(data["artifacts"]):
            if (problem := entry_problem(i, entry)) is not None:
                raise ArtifactError(f"{path}: {problem}")
        return data

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest["artifacts"].sort(key=lambda a: a["path"])
        text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
        write_atomic(self.manifest_path, text.encode())

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

    def update_manifest(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read-modify-write the manifest under the lock."""
        with self.locked():
            manifest = self.read_manifest()
            change(manifest)
            self._write_manifest(manifest)
            return manifest

    # -- committing an export -------------------------------------------------------------

    def commit(self, entry: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        """Write ``files`` (name -> bytes) and record ``entry`` for ``entry['path']``.

        ``entry['files']`` must list every file with its sha256; the weights may be shared by
        several entries, so they are content-addressed and only ever written once.
        """
        self.ensure()
        model_rel = entry["path"]
        for f in entry["files"]:
            if sha256_bytes(files[f["path"]]) != f["sha256"]:
                raise ArtifactError(f"internal: checksum of {f['path']} changed before writing")
        model_path = self.resolve(model_rel)
        tmp: str | None = None
        try:
            with self.locked():
                self.remove_stale_temps()
                manifest = self.read_manifest()
                size = len(json.dumps(manifest)) + len(json.dumps(entry))
                self.check_space(sum(len(b) for b in files.values()) + 2 * size)
                for f in entry["files"]:
                    if f["path"] != model_rel:
                        self._write_if_changed(f["path"], files[f["path"]], f["sha256"])
                # All model bytes are on disk (a full disk fails here) before anything changes.
                tmp = stage(model_path, files[model_rel])
                # Drop the old entry first: if we die after replacing the model file, the
                # manifest must not name it with its old checksum.
                old = manifest["artifacts"]
                manifest["artifacts"] = [a for a in old if a["path"] != model_rel]
                if len(manifest["artifacts"]) != len(old):
                    self._write_manifest(manifest)
                os.replace(tmp, model_path)
                tmp = None
                manifest["artifacts"].append(entry)
                self._write_manifest(manifest)
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


REQUIRED_ENTRY_FIELDS = ("path", "sha256", "format", "model", "input", "files")


def parse_manifest(text: str) -> dict[str, Any]:
    """Decode manifest.json's text and check its top level; messages say what is wrong, not where.

    Shared by :meth:`ArtifactFolder.read_manifest` (which raises) and ``verify`` (which collects).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"is not valid JSON ({e}); truncated or corrupted?") from None
    if not isinstance(data, dict):
        raise ArtifactError("is not a JSON object")
    version = data.get("manifest_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ArtifactError("lacks an integer 'manifest_version'")
    if version > MANIFEST_VERSION:
        raise ArtifactError(
            f"version {version} is newer than this toolkit reads ({MANIFEST_VERSION}); "
            "upgrade chanattn_export"
        )
    if not isinstance(data.get("artifacts"), list):
        raise ArtifactError("lacks an 'artifacts' list")
    return data


def entry_problem(i: int, entry: object) -> str | None:
    """What is structurally wrong with ``artifacts[i]``, or None."""
    if not isinstance(entry, dict):
        return f"artifacts[{i}] is not an object"
    missing = [k for k in REQUIRED_ENTRY_FIELDS if k not in entry]
    if missing:
        name = entry["path"] if isinstance(entry.get("path"), str) else f"artifacts[{i}]"
        return f"entry {name} lacks fields: {', '.join(missing)}"
    return None
