"""manifest.json as typed, frozen records, validated in one place (torch-free).

A manifest comes from disk and may have been edited by anyone: every field is type-checked here,
once, and a bad one raises :class:`ArtifactError` with one line saying what is wrong. Everything
downstream (export, ``parity DIR``, ``verify``, serving) works on :class:`ManifestEntry`, never on
raw dicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ArtifactError, InvalidSpecError
from ..spec import INPUT_NAME, OUTPUT_NAME, Format, InputSpec, ModelSpec
from .conversion import conversion_field
from .evidence import REGISTRY, source_fields

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
PASSED, FAILED = "passed", "failed"
MODEL, WEIGHTS = "model", "weights"
REQUIRED_ENTRY_FIELDS = ("path", "sha256", "format", "model", "input", "files", "weights",
                         "parity")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Weights are content-addressed: <stem>.<first 12 hex digits of their sha256>.safetensors
WEIGHTS_NAME = re.compile(r".+\.([0-9a-f]{12})\.safetensors")
MAX_PATH_CHARS = 255


def check_path_text(path: object, where: str) -> str:
    """A manifest path is a short printable name: no NUL or control characters (one line)."""
    if not isinstance(path, str) or not path:
        raise ArtifactError(f"{where}: a path must be a non-empty string")
    if len(path) > MAX_PATH_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ArtifactError(f"{where}: path {path[:40]!r} has control characters or is too long")
    return path


@dataclass(frozen=True)
class FileRecord:
    """One file of an artifact: its path relative to the folder, sha256, role and size."""

    path: str
    sha256: str
    role: str = ""
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "role": self.role}
        if self.size is not None:
            d["size"] = self.size
        return d

    @classmethod
    def from_dict(cls, d: object, where: str) -> FileRecord:
        if not isinstance(d, Mapping):
            raise ArtifactError(f"{where}: 'files' must list objects with path and sha256")
        path, sha = d.get("path"), d.get("sha256")
        if not isinstance(path, str) or not isinstance(sha, str):
            raise ArtifactError(f"{where}: 'files' must list objects with path and sha256")
        check_path_text(path, where)
        _check_sha(sha, f"{where}: file {path!r}")
        role = d.get("role", "")
        size = d.get("size")
        size_ok = size is None or (isinstance(size, int) and not isinstance(size, bool)
                                   and size >= 0)
        if not isinstance(role, str) or not size_ok:
            raise ArtifactError(f"{where}: file {path!r} has a bad role or size")
        return cls(path, sha, role, size)


@dataclass(frozen=True)
class ManifestEntry:
    """One exported model file with everything needed to re-check it."""

    path: str
    sha256: str
    format: Format
    model: ModelSpec
    input: InputSpec
    files: tuple[FileRecord, ...]
    weights: str
    status: str = PASSED
    exporter: str = ""
    opset: int | None = None
    inputs: tuple[dict[str, Any], ...] = ()
    outputs: tuple[dict[str, Any], ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    fallback_reason: str | None = None
    source: str = REGISTRY  # "user": a user's network, which cannot be rebuilt from weights
    reference: str | None = None  # the evidence file (parity inputs and eager outputs)
    conversion: dict[str, Any] = field(default_factory=dict)  # fp16/int8 (conversion.py)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def model_file(self) -> FileRecord:
        return next(f for f in self.files if f.path == self.path)

    @property
    def weights_file(self) -> FileRecord:
        return next(f for f in self.files if f.path == self.weights)

    def with_parity(self, parity: dict[str, Any], passed: bool) -> ManifestEntry:
        """A copy carrying a new parity verdict (what ``parity DIR`` records)."""
        return replace(self, parity=parity, status=PASSED if passed else FAILED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "status": self.status,
            "format": str(self.format),
            "exporter": self.exporter,
            "opset": self.opset,
            "fallback_reason": self.fallback_reason,
            "model": self.model.to_dict(),
            "input": self.input.to_dict(),
            "inputs": [dict(i) for i in self.inputs],
            "outputs": [dict(o) for o in self.outputs],
            "files": [f.to_dict() for f in self.files],
            "weights": self.weights,
            "versions": dict(self.versions),
            "parity": self.parity,
            **({"source": self.source} if self.source != REGISTRY else {}),
            **({"reference": self.reference} if self.reference is not None else {}),
            **({"conversion": self.conversion} if self.conversion else {}),
        }

    @classmethod
    def from_dict(cls, d: object, index: int = 0) -> ManifestEntry:
        """Validate one ``artifacts[i]`` object; the message names the entry and the field."""
        if not isinstance(d, Mapping):
            raise ArtifactError(f"artifacts[{index}] is not an object")
        name = d["path"] if isinstance(d.get("path"), str) else f"artifacts[{index}]"
        missing = [k for k in REQUIRED_ENTRY_FIELDS if k not in d]
        if missing:
            raise ArtifactError(f"entry {name} lacks fields: {', '.join(missing)}")
        where = f"entry {name}"
        path, sha, weights = d["path"], d["sha256"], d["weights"]
        if not isinstance(path, str) or not path:
            raise ArtifactError(f"artifacts[{index}]: 'path' must be a file name")
        check_path_text(path, f"artifacts[{index}]")
        if not isinstance(sha, str):
            raise ArtifactError(f"{where}: 'sha256' must be a string")
        _check_sha(sha, where)
        if not isinstance(d["files"], list):
            raise ArtifactError(f"{where}: 'files' must list objects with path and sha256")
        files = tuple(FileRecord.from_dict(f, where) for f in d["files"])
        paths = [f.path for f in files]
        if len(set(paths)) != len(paths):
            raise ArtifactError(f"{where}: 'files' lists a path twice")
        by_path = {f.path: f for f in files}
        if path not in by_path:
            raise ArtifactError(f"{where} does not list its model in 'files'")
        if by_path[path].sha256 != sha:
            raise ArtifactError(f"{where}: two different sha256 for the model")
        if not isinstance(weights, str) or weights not in by_path or weights == path:
            raise ArtifactError(f"{where} names no weights file (or names the model as one)")
        named = WEIGHTS_NAME.fullmatch(weights)
        if named is None or named.group(1) != by_path[weights].sha256[:12]:
            raise ArtifactError(f"{where}: weights file name {weights!r} does not carry its "
                                f"sha256 prefix {by_path[weights].sha256[:12]} "
                                "(<stem>.<sha256[:12]>.safetensors)")
        try:
            fmt = Format.parse(d["format"], "format")
            model = ModelSpec.from_dict(_mapping(d["model"], "model"))
            inp = InputSpec.from_dict(_mapping(d["input"], "input"))
        except (InvalidSpecError, ArtifactError, KeyError, TypeError, ValueError,
                OverflowError) as e:
            raise ArtifactError(f"{where}: spec is invalid: {_one_line(e)}") from None
        source, reference = source_fields(d, where, {f.path: f.sha256 for f in files})
        status = d.get("status", PASSED)
        if status not in (PASSED, FAILED):
            raise ArtifactError(f"{where}: status must be {PASSED!r} or {FAILED!r}")
        opset = d.get("opset")
        if opset is not None and (not isinstance(opset, int) or isinstance(opset, bool)):
            raise ArtifactError(f"{where}: 'opset' must be an integer or null")
        parity = d.get("parity", {})
        versions = d.get("versions", {})
        fallback = d.get("fallback_reason")
        if not isinstance(parity, Mapping) or not isinstance(versions, Mapping):
            raise ArtifactError(f"{where}: 'parity' and 'versions' must be objects")
        if fallback is not None and not isinstance(fallback, str):
            raise ArtifactError(f"{where}: 'fallback_reason' must be a string or null")
        return cls(
            path=path, sha256=sha, format=fmt, model=model, input=inp, files=files,
            weights=weights, status=status, exporter=str(d.get("exporter", "")), opset=opset,
            inputs=_records(d.get("inputs", []), where, "inputs"),
            outputs=_records(d.get("outputs", []), where, "outputs"),
            versions={str(k): str(v) for k, v in versions.items()}, parity=dict(parity),
            fallback_reason=fallback, source=source, reference=reference,
            conversion=conversion_field(d, where),
        )

    @classmethod
    def create(cls, *, path: str, data_sha256: str, size: int, fmt: Format, model: ModelSpec,
               inp: InputSpec, output_kind: str, weights: str, weights_sha256: str,
               exporter: str, opset: int | None, versions: Mapping[str, str],
               parity: Mapping[str, Any], passed: bool,
               fallback_reason: str | None = None,
               weights_size: int | None = None) -> ManifestEntry:
        """A new entry for a freshly exported file (what ``export`` records)."""
        in_dims = inp.dims(model.layout, model.channels)
        out_dims: list[int | str] = list(in_dims)
        if output_kind == "gate":  # a [N, C, 1, 1] (or [N, 1, 1, C]) gate
            for i in model.layout.spatial_axes:
                out_dims[i] = 1
        return cls(
            path=path, sha256=data_sha256, format=fmt, model=model, input=inp,
            files=(FileRecord(path, data_sha256, MODEL, size),
                   FileRecord(weights, weights_sha256, WEIGHTS, weights_size)),
            weights=weights, status=PASSED if passed else FAILED, exporter=exporter,
            opset=opset,
            inputs=({"name": INPUT_NAME, "dtype": "float32", "dims": in_dims,
                     "shape": list(inp.shape(model.layout, model.channels))},),
            outputs=({"name": OUTPUT_NAME, "dtype": "float32", "dims": out_dims,
                      "kind": output_kind},),
            versions=dict(versions), parity=dict(parity), fallback_reason=fallback_reason,
        )


@dataclass(frozen=True)
class Manifest:
    """The whole file: a version and the entries, sorted by path when written."""

    entries: tuple[ManifestEntry, ...] = ()
    version: int = MANIFEST_VERSION
    # Entries of a commit in flight: written before the model file is renamed into place, so a
    # reader (or a run killed at any step) can tell which artifact the file on disk is.
    pending: tuple[ManifestEntry, ...] = ()

    def get(self, path: str) -> ManifestEntry | None:
        return next((e for e in self.entries if e.path == path), None)

    def without(self, path: str) -> Manifest:
        return Manifest(tuple(e for e in self.entries if e.path != path), self.version)

    def with_entry(self, entry: ManifestEntry) -> Manifest:
        return Manifest((*self.without(entry.path).entries, entry), self.version)

    def with_pending(self, entry: ManifestEntry) -> Manifest:
        """The manifest of a commit's intent step: old entries kept, ``entry`` pending."""
        return Manifest(self.entries, self.version, (entry,))

    def replaced(self, entries: Iterable[ManifestEntry]) -> Manifest:
        return Manifest(tuple(entries), self.version)

    def settled(self, disk_sha: Callable[[ManifestEntry], str | None]) -> Manifest:
        """Resolve pending entries: one whose model file on disk has its sha256 replaces the
        committed entry of that path (the rename happened); any other is dropped."""
        out = Manifest(self.entries, self.version)
        for p in self.pending:
            if disk_sha(p) == p.sha256:
                out = out.with_entry(p)
        return out

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "artifacts": [e.to_dict() for e in sorted(self.entries, key=lambda e: e.path)]}
        if self.pending:
            doc["pending"] = [e.to_dict() for e in self.pending]
        return json.dumps(doc, indent=2) + "\n"


def _check_sha(sha: str, where: str) -> None:
    if not _SHA256.fullmatch(sha):
        raise ArtifactError(f"{where}: sha256 must be 64 lowercase hex digits")


def _mapping(v: object, name: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ArtifactError(f"'{name}' must be an object")
    return v


def _records(v: object, where: str, name: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(v, list) or not all(isinstance(r, Mapping) for r in v):
        raise ArtifactError(f"{where}: {name!r} must be a list of objects")
    return tuple(dict(r) for r in v)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


__all__ = ["FAILED", "MANIFEST", "MANIFEST_VERSION", "PASSED", "FileRecord", "Manifest",
           "ManifestEntry", "check_path_text"]
