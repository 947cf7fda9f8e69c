"""Decoding manifest.json's text: the top level first, then every entry (torch-free).

The text is untrusted: a deeply nested document, a wrong type anywhere, a duplicate entry or an
unknown version gives :class:`ArtifactError` with one line, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import ArtifactError
from .manifest import MANIFEST_VERSION, Manifest, ManifestEntry, _one_line

MAX_NESTING = 64  # json.loads recurses: refuse deeper documents before decoding them


def parse_top(text: str) -> tuple[int, list[Any]]:
    """(version, raw entries) after checking the top level; messages say what is wrong.

    ``verify`` parses entries one by one from here so one bad entry does not hide the others.
    """
    depth = max_depth(text)
    if depth > MAX_NESTING:
        raise ArtifactError(f"is nested {depth} levels deep (at most {MAX_NESTING}); "
                            "not a manifest written by this toolkit")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ArtifactError(f"is not valid JSON ({_one_line(e)}); truncated or corrupted?") \
            from None
    if not isinstance(data, dict):
        raise ArtifactError("is not a JSON object")
    version = data.get("manifest_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ArtifactError("lacks an integer 'manifest_version'")
    if version > MANIFEST_VERSION:
        raise ArtifactError(
            f"version {version} is newer than this toolkit reads ({MANIFEST_VERSION}); "
            "upgrade chanattn_export")
    if version < 1:
        raise ArtifactError(f"version {version} is not a manifest version (expected "
                            f"{MANIFEST_VERSION})")
    if not isinstance(data.get("artifacts"), list):
        raise ArtifactError("lacks an 'artifacts' list")
    return version, data["artifacts"]


def parse_manifest(text: str) -> Manifest:
    """The whole manifest, every entry validated; the first problem raises."""
    version, raw = parse_top(text)
    entries = tuple(ManifestEntry.from_dict(d, i) for i, d in enumerate(raw))
    check_unique(entries)
    return Manifest(entries, version)


def check_unique(entries: Sequence[ManifestEntry]) -> None:
    seen: set[str] = set()
    for e in entries:
        if e.path in seen:
            raise ArtifactError(f"entry {e.path} appears twice")
        seen.add(e.path)


def max_depth(text: str) -> int:
    """Bracket nesting depth of a JSON text, ignoring brackets inside strings (no recursion)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


__all__ = ["MAX_NESTING", "check_unique", "max_depth", "parse_manifest", "parse_top"]
