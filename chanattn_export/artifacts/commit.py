"""The commit protocol of one export: every instant shows the old artifact or the new one.

Under the folder's exclusive lock, in this order (each name is a step fault tests stop at):

1. ``clean``    remove temp files of killed runs (no live writer has any: we hold the lock)
2. ``weights``  write the content-addressed weights file (a new name; nothing is overwritten)
3. ``stage``    write the model bytes to a temp file and fsync it (a full disk fails here)
4. ``intent``   atomically rewrite the manifest: old entries unchanged, the new entry *pending*
5. ``replace``  rename the temp file onto ``<stem>.onnx`` / ``.pt`` (one atomic rename)
6. ``manifest`` atomically rewrite the manifest with the new entry, nothing pending
7. ``sums``     rewrite ``SHA256SUMS``
8. ``collect``  delete weights files that no entry names any more

Until step 5 the model file is the old one and the manifest's committed entry describes it;
from step 5 on the file is the new one and the pending (then committed) entry describes it.
Readers settle a pending entry by the model file's sha256 (:meth:`Manifest.settled`), so a run
killed at any step, SIGKILL included, leaves a folder that verifies and shows one artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

from ..errors import ArtifactError
from ..fileio import fsync_dir, sha256_bytes, stage, write_atomic
from .folder import FAILED_DIR, ArtifactFolder, oserror
from .manifest import ManifestEntry

STEPS = ("clean", "weights", "stage", "intent", "replace", "manifest", "sums", "collect")
# Fault injection for the tests: a hook called with each step's name before the step runs, and
# an environment variable naming a step at which the process SIGKILLs itself (subprocess tests).
KILL_AT_ENV = "CHANATTN_EXPORT_TEST_KILL_AT"
fault_hook: Callable[[str], None] | None = None


def _at(step: str) -> None:
    if fault_hook is not None:
        fault_hook(step)
    if os.environ.get(KILL_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def commit(folder: ArtifactFolder, entry: ManifestEntry, files: dict[str, bytes]) -> ManifestEntry:
    """Write ``files`` (name -> bytes) and record ``entry`` for ``entry.path`` (see above)."""
    folder.ensure()
    for f in entry.files:
        if sha256_bytes(files[f.path]) != f.sha256:
            raise ArtifactError(f"internal: checksum of {f.path} changed before writing")
    model_path = folder.resolve(entry.path)
    tmp: str | None = None
    replaced = False
    try:
        with folder.locked():
            _at("clean")
            folder.remove_stale_temps()
            manifest = folder.read_manifest()  # a killed commit's pending entry settles here
            size = len(manifest.to_json()) + len(json.dumps(entry.to_dict()))
            folder.check_space(sum(len(b) for b in files.values()) + 3 * size)
            _at("weights")
            for f in entry.files:
                if f.path != entry.path:
                    folder.write_if_changed(f.path, files[f.path], f.sha256)
            _at("stage")
            tmp = stage(model_path, files[entry.path])
            _at("intent")
            folder.write_manifest(manifest.with_pending(entry))
            _at("replace")
            os.replace(tmp, model_path)
            tmp, replaced = None, True
            fsync_dir(folder.root)
            _at("manifest")
            final = manifest.with_entry(entry)
            folder.write_manifest(final)
            _at("sums")
            folder.write_sums(final)
            _at("collect")
            folder.collect_garbage(final)
    except OSError as e:
        raise oserror(e, f"write into {folder.root}", replaced) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return entry


def keep_failed(folder: ArtifactFolder, entry: ManifestEntry, files: dict[str, bytes]) -> Path:
    """A failed export's files and its manifest record under ``DIR/failed/``, never beside the
    passing artifacts and never in ``manifest.json``. Returns the model file's path."""
    folder.ensure()
    sub = folder.root / FAILED_DIR
    try:
        with folder.locked():
            sub.mkdir(exist_ok=True)
            for name, data in files.items():
                write_atomic(sub / name, data)
            report = json.dumps(entry.to_dict(), indent=2) + "\n"
            write_atomic(sub / (entry.path + ".json"), report.encode())
    except OSError as e:
        raise oserror(e, f"write into {sub}") from None
    return sub / entry.path


__all__ = ["KILL_AT_ENV", "STEPS", "commit", "keep_failed"]
