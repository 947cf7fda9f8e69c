"""Prove an artifact folder against its manifest, collecting every problem instead of stopping.

The manifest is read once, bounded, and its top level checked first; then each entry is parsed
on its own (one bad entry does not hide the others) and re-checked by
:func:`.recheck.check_entry` on the quick cases: every file read once and checked before
anything parses it, loading, the stored evidence, and, for a registered block where torch is
installed, the block rebuilt from its weights file. The whole run holds the folder's shared
lock, so an export committing meanwhile is seen before or after, never halfway. With a public
key the folder's signature is checked first, and every byte used afterwards must match the
signed digests (a file swapped after the signature check is refused, not loaded); TorchScript
files (programs) are loaded only after a valid signature or with ``trust_torchscript``. What
could not be checked here is one warning line; files that no entry names are warnings. The
result is data (:class:`Problem` records); printing is the CLI's job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..artifacts import (
    FAILED_DIR,
    MANIFEST,
    SUMS,
    TMP_PREFIX,
    ArtifactFolder,
    Manifest,
    ManifestEntry,
    parse_top,
)
from ..artifacts.folder import sums_text
from ..artifacts.signing import SIGNATURE
from ..errors import ArtifactError
from ..fileio import sha256_bytes
from ..fileio.bounded import MANIFEST_MAX_BYTES, SMALL_FILE_MAX_BYTES, read_bounded
from ..spec import Tolerance
from .files import SIGNED_CHANGED
from .recheck import ERROR, QUICK_CASES, WARNING, EntryCheck, Problem, check_entry
from .settings import CheckSettings
from .summary import failure_problems, unchecked_line

ARTIFACT_SUFFIXES = (".onnx", ".pt", ".pt2", ".safetensors")
KNOWN_FILES = (MANIFEST, SUMS, SIGNATURE)


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)


def verify_folder(out: str | os.PathLike[str], *, tolerance: Tolerance | None = None,
                  seed: int = 0, progress: Callable[[str], None] | None = None,
                  public_key: str | os.PathLike[str] | None = None,
                  trust_torchscript: bool = False,
                  devices: str | Sequence[str] | None = None) -> list[Problem]:
    """Every problem of the folder ``out``; an empty list means every artifact was proven.

    Judged at ``tolerance`` or the toolkit's defaults, never at a tolerance from the manifest.
    """
    from ..runtime import parse_devices

    devices = parse_devices(devices)  # a bad value is the caller's error, not a file's problem
    folder = ArtifactFolder(out)
    if not folder.root.is_dir():
        return [Problem(str(folder.root), "no such folder")]
    problems: list[Problem] = []
    signed: dict[str, str] | None = None
    if public_key is not None:
        from ..artifacts.signing import signed_digests

        lines, signed = signed_digests(folder.root, Path(public_key))
        problems += [Problem(*line.split(": ", 1)) for line in lines]
        trust_torchscript = trust_torchscript or not lines
    settings = CheckSettings(tolerance or Tolerance(), seed, devices)
    with folder.shared():
        problems += _verify_locked(folder, settings, progress or (lambda _msg: None),
                                   trust_torchscript, signed)
    return list(dict.fromkeys(problems))  # a swapped file is named once, not by each pass


def _verify_locked(folder: ArtifactFolder, settings: CheckSettings,
                   say: Callable[[str], None], trust: bool,
                   signed: Mapping[str, str] | None) -> list[Problem]:
    from ..runtime import require_devices

    raw, problems = _read_top(folder, signed)
    if raw is None:
        return problems
    cache: dict[str, bytes | None] = {}
    named: set[str] = set()
    seen: set[str] = set()
    entries: list[ManifestEntry] = []
    checks: list[EntryCheck] = []
    for i, d in enumerate(raw):
        label = d.get("path") if isinstance(d, dict) else None
        say(f"verifying {label if isinstance(label, str) else f'artifacts[{i}]'} ...")
        try:
            entry = ManifestEntry.from_dict(d, i)
        except ArtifactError as e:
            problems.append(Problem(MANIFEST, str(e)))
            continue
        if entry.path in seen:
            problems.append(Problem(MANIFEST, f"entry {entry.path} appears twice"))
            continue
        seen.add(entry.path)
        require_devices(entry.format, settings.devices)
        entries.append(entry)
        named.update(f.path for f in entry.files)
        check = check_entry(folder, entry, settings, cases=QUICK_CASES, collect=True,
                            cache=cache, trust_torchscript=trust, signed=signed)
        checks.append(check)
        problems.extend(check.problems)
        problems.extend(failure_problems(check))
    summary = unchecked_line(checks, MANIFEST)
    problems.extend([summary] if summary else [])
    problems.extend(_sums_problems(folder, Manifest(tuple(entries))))
    problems.extend(_stray_files(folder, named))
    return problems


def _read_top(folder: ArtifactFolder,
              signed: Mapping[str, str] | None) -> tuple[list | None, list[Problem]]:
    """The manifest's raw entries, from one bounded read of the file (checked against the
    signature when there is one: these bytes, not a later read, are what gets parsed)."""
    path = folder.manifest_path
    if not path.exists() and not path.is_symlink():
        return None, [Problem(MANIFEST, "missing (not an artifact folder?)")]
    try:
        data = read_bounded(path, MANIFEST_MAX_BYTES, "manifest")
        if signed is not None and signed.get(MANIFEST) != sha256_bytes(data):
            return None, [Problem(MANIFEST, SIGNED_CHANGED)]
        _, raw, pending = parse_top(data.decode("utf-8"))
    except ArtifactError as e:
        return None, [Problem(MANIFEST, str(e).removeprefix(f"{path}: "))]
    except UnicodeDecodeError as e:
        return None, [Problem(MANIFEST, f"unreadable: {e}")]
    raw, problems = _settle(folder, raw, pending)
    if not raw:
        return None, [*problems, Problem(MANIFEST, "lists no artifacts")]
    return raw, problems


def _settle(folder: ArtifactFolder, raw: list[Any],
            pending: list[Any]) -> tuple[list[Any], list[Problem]]:
    """Apply the pending entries of an interrupted (or running) commit, as readers must."""
    problems = []
    for i, d in enumerate(pending):
        try:
            p = ManifestEntry.from_dict(d, i)
        except ArtifactError as e:
            problems.append(Problem(MANIFEST, f"pending {e}"))
            continue
        landed = folder.disk_sha(p) == p.sha256
        if landed:
            raw = [r for r in raw if not (isinstance(r, dict) and r.get("path") == p.path)]
            raw.append(d)
        problems.append(Problem(MANIFEST, f"an interrupted export left entry {p.path} pending; "
                                          f"the folder holds the {'new' if landed else 'old'} "
                                          "artifact (the next export tidies up)", WARNING))
    return raw, problems


def _sums_problems(folder: ArtifactFolder, manifest: Manifest) -> list[Problem]:
    path = folder.root / SUMS
    try:
        text = (read_bounded(path, SMALL_FILE_MAX_BYTES, "checksum list").decode("utf-8")
                if path.exists() else None)
    except (ArtifactError, UnicodeDecodeError):
        text = ""
    if text is None:
        return [Problem(SUMS, "missing (written by every export of this version)", WARNING)]
    if text != sums_text(manifest):
        return [Problem(SUMS, "does not match the manifest (an interrupted run or an edit; the "
                              "next export rewrites it)", WARNING)]
    return []


def _stray_files(folder: ArtifactFolder, named: set[str]) -> list[Problem]:
    out = []
    for p in sorted(folder.root.iterdir()):
        if p.name.startswith(TMP_PREFIX):
            out.append(Problem(p.name, "temporary file left by an interrupted run (the next "
                                       "export removes it)", WARNING))
        elif p.suffix in ARTIFACT_SUFFIXES and p.name not in named:
            out.append(Problem(p.name, "not named in the manifest", WARNING))
        elif p.name == FAILED_DIR and p.is_dir():
            out.append(Problem(p.name, "holds exports that failed parity (kept with "
                                       "--keep-failed; never load them)", WARNING))
    return out


__all__ = ["ERROR", "WARNING", "Problem", "has_errors", "verify_folder"]
