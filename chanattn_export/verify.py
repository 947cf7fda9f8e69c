"""Prove an artifact folder against its manifest, collecting every problem instead of stopping.

The manifest's top level is read first; then each entry is parsed on its own (one bad entry does
not hide the others) and re-checked by :func:`recheck.check_entry` on the quick cases: files and
checksums before anything is parsed, loading, parity against the eager model rebuilt from the
weights file. Files in the folder that no entry names are warnings. The result is data
(:class:`Problem` records); printing is the CLI's job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from .artifacts import MANIFEST, TMP_PREFIX, ArtifactFolder, ManifestEntry, parse_top
from .errors import ArtifactError
from .recheck import ERROR, QUICK_CASES, WARNING, Problem, check_entry, failure_problems
from .spec import Tolerance

ARTIFACT_SUFFIXES = (".onnx", ".pt", ".safetensors")


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)


def verify_folder(out: str | os.PathLike[str], *, tolerance: Tolerance | None = None,
                  seed: int = 0, progress: Callable[[str], None] | None = None,
                  devices: str | Sequence[str] | None = None) -> list[Problem]:
    """Every problem of the folder ``out``; an empty list means every artifact was proven.

    Judged at ``tolerance`` or the toolkit's defaults, never at a tolerance from the manifest.
    """
    from .runtime import parse_devices, require_devices

    say = progress or (lambda _msg: None)
    devices = parse_devices(devices)  # a bad value is the caller's error, not a file's problem
    tol = tolerance or Tolerance()
    folder = ArtifactFolder(out)
    if not folder.root.is_dir():
        return [Problem(str(folder.root), "no such folder")]
    raw, problems = _read_top(folder)
    if raw is None:
        return problems
    cache: dict[str, bytes | None] = {}
    named: set[str] = set()
    seen: set[str] = set()
    for i, d in enumerate(raw):
        label = d.get("path") if isinstance(d, dict) else None
        say(f"verifying {label or f'artifacts[{i}]'} ...")
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
        named.update(f.path for f in entry.files)
        check = check_entry(folder, entry, tolerance=tol, seed=seed, cases=QUICK_CASES,
                            collect=True, cache=cache, devices=devices)
        problems.extend(check.problems)
        problems.extend(failure_problems(check))
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
        _, raw = parse_top(text)
    except ArtifactError as e:
        return None, [Problem(MANIFEST, str(e))]
    if not raw:
        return None, [Problem(MANIFEST, "lists no artifacts")]
    return raw, []


def _stray_files(folder: ArtifactFolder, named: set[str]) -> list[Problem]:
    out = []
    for p in sorted(folder.root.iterdir()):
        if p.name.startswith(TMP_PREFIX):
            out.append(Problem(p.name, "temporary file left by an interrupted run (the next "
                                       "export removes it)", WARNING))
        elif p.suffix in ARTIFACT_SUFFIXES and p.name not in named:
            out.append(Problem(p.name, "not named in the manifest", WARNING))
    return out


__all__ = ["ERROR", "WARNING", "Problem", "has_errors", "verify_folder"]
