"""Artifact folders: typed manifest records, their parsing, and the one writer of a folder."""

from ..fileio import TMP_PREFIX, sha256_bytes, sha256_file, stage, write_atomic
from .folder import STALE_TMP_S, ArtifactFolder
from .manifest import (
    FAILED,
    MANIFEST,
    MANIFEST_VERSION,
    PASSED,
    FileRecord,
    Manifest,
    ManifestEntry,
)
from .parsing import parse_manifest, parse_top

__all__ = [
    "FAILED",
    "MANIFEST",
    "MANIFEST_VERSION",
    "PASSED",
    "STALE_TMP_S",
    "TMP_PREFIX",
    "ArtifactFolder",
    "FileRecord",
    "Manifest",
    "ManifestEntry",
    "parse_manifest",
    "parse_top",
    "sha256_bytes",
    "sha256_file",
    "stage",
    "write_atomic",
]
