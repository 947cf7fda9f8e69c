"""Prove an artifact folder against its manifest, collecting every problem instead of stopping.

The manifest's top level is read first; then each entry is parsed on its own (one bad entry does
not hide the others) and re-checked by :func:`recheck.check_entry` on the quick cases: files and
checksums before anything is parsed, loading, parity against the eager model rebuilt from the
weights file. The whole run holds the folder's shared lock, so an export committing meanwhile is
seen before or after, never halfway. With a public key the folder's signature is checked first;
TorchScript files (programs) are loaded only after a valid signature or with
``trust_torchscript``. Files that no entry names are warnings. The result is data
(:class:`Problem` records); printing is the CLI's job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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
from ..spec import Tolerance
from .recheck import ERROR, QUICK_CASES, WARNING, Problem, check_entry, failure_problems

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
    if public_key is not None:
        from ..artifacts.signing import check_signature

        signed = check_signature(folder.root, Path(public_key))
        problems += [Problem(*line.split(": ", 1)) for line in signed]
        trust_torchscript = trust_torchscript or not signed
    with folder.shared():
        problems += _verify_locked(folder, tolerance or Tolerance(), seed,
                                   progress or (lambda _msg: None), trust_torchscript, devices)
    return problems


def _verify_locked(folder: ArtifactFolder, tol: Tolerance, seed: int,
                   say: Callable[[str], None], trust: bool, devices: Any) -> list[Problem]:
    from ..runtime import require_devices

    raw, problems = _read_top(folder)
    if raw is None:
        return problems
    cache: dict[str, bytes | None] = {}
    named: set[str] = set()
    seen: set[str] = set()
    entries: list[ManifestEntry] = []
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
        require_devices(entry.format, devices)
        entries.append(entry)
        named.update(f.path for f in entry.files)
        check = check_entry(folder, entry, tolerance=tol, seed=seed, cases=QUICK_CASES,
                            collect=True, cache=cache, trust_torchscript=trust,
                            devices=devices)
        problems.extend(check.problems)
        problems.extend(failure_problems(check))
    problems.extend(_sums_problems(folder, Manifest(tuple(entries))))
    problems.extend(_stray_files(folder, named))
    return problems


def _read_top(folder: ArtifactFolder) -> tuple[list | None, list[Problem]]:
    path = folder.manifest_path
    if not path.is_file():
        return None, [Problem(MANIFEST, "missing (not an artifact folder?)")]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return None, [Problem(MANIFEST, f"unreadable: {e}")]
    try:
        _, raw, pending = parse_top(text)
    except ArtifactError as e:
        return None, [Problem(MANIFEST, str(e))]
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
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError):
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
