"""The stored parity evidence of a user's network: its inputs and the eager outputs, in one file.

A registered block is re-checked by rebuilding it from its spec and weights file. A user's
network cannot be rebuilt (its code is not ours), so its manifest entry is marked
``"source": "user"`` and names a *reference file*: the parity inputs the export was judged on
and the eager network's outputs for them. ``verify DIR`` and ``parity DIR`` run the artifact on
those inputs and judge it against those outputs, without the user's code.

The file is safetensors (tensors ``<index>.<case>.input`` / ``<index>.<case>.output``): a format
whose header is checked against the file's length before any tensor is read, so untrusted bytes
cannot decompress into gigabytes or run code (an ``.npz`` may do the first, a pickle the second).
Its name carries its sha256 prefix like a weights file: ``<stem>.reference.<sha[:12]>.safetensors``.

Torch-free; safetensors is imported only when a reference is written or read (serving, which
imports the manifest, never needs it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArtifactError

REGISTRY, USER = "registry", "user"  # how the eager reference of an entry is found
REFERENCE = "reference"  # the role of the reference file in an entry's 'files'
SCHEMA = "chanattn_export.network-reference/1"
META = "chanattn_export"  # the one metadata key: a JSON object with schema, model and seed
_NAME = re.compile(r".+\.reference\.([0-9a-f]{12})\.safetensors")
_KEY = re.compile(r"(\d{4})\.([A-Za-z0-9_-]+)\.(input|output)")


def reference_name(stem: str, sha256: str) -> str:
    return f"{stem}.reference.{sha256[:12]}.safetensors"


def source_fields(d: Mapping[str, Any], where: str,
                  sha_of: Mapping[str, str]) -> tuple[str, str | None]:
    """``(source, reference)`` of a raw manifest entry; ``sha_of`` maps its files to sha256."""
    source, ref = d.get("source", REGISTRY), d.get("reference")
    if source not in (REGISTRY, USER):
        raise ArtifactError(f"{where}: 'source' must be {REGISTRY!r} or {USER!r}")
    if source == REGISTRY:
        if ref is not None:
            raise ArtifactError(f"{where}: only a user network ('source': 'user') names a "
                                "reference file")
        return source, None
    if not isinstance(ref, str) or ref not in sha_of or ref in (d.get("path"), d.get("weights")):
        raise ArtifactError(f"{where}: a user network must name its reference file, listed in "
                            "'files' (it holds the inputs and eager outputs verify judges by)")
    named = _NAME.fullmatch(ref)
    if named is None or named.group(1) != sha_of[ref][:12]:
        raise ArtifactError(f"{where}: reference file name {ref!r} does not carry its sha256 "
                            f"prefix {sha_of[ref][:12]} (<stem>.reference.<sha256[:12]>"
                            ".safetensors)")
    return source, ref


@dataclass(frozen=True)
class StoredReference:
    """The cases (name, input) and the eager output of each, in the order they were run."""

    names: tuple[str, ...]
    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    seed: int = 0


def encode_reference(names: Sequence[str], inputs: Sequence[np.ndarray],
                     outputs: Sequence[np.ndarray], *, model: str, seed: int) -> bytes:
    """Deterministic safetensors bytes (the same evidence gives the same file and name)."""
    from safetensors.numpy import save

    tensors: dict[str, np.ndarray] = {}
    for i, (name, x, y) in enumerate(zip(names, inputs, outputs, strict=True)):
        tensors[f"{i:04d}.{name}.input"] = np.ascontiguousarray(x)
        tensors[f"{i:04d}.{name}.output"] = np.ascontiguousarray(y)
    # One metadata key: safetensors writes several in no fixed order, which would change the
    # bytes (and so the content-addressed name) of the same evidence from run to run.
    about = json.dumps({"schema": SCHEMA, "model": model, "seed": seed}, sort_keys=True)
    return save(tensors, metadata={META: about})


def decode_reference(data: bytes) -> StoredReference:
    """The stored cases; untrusted bytes give one :class:`ArtifactError` line, never a crash."""
    from safetensors.numpy import load

    try:
        tensors = load(data)
    except Exception as e:  # SafetensorError, ValueError, ...: untrusted bytes
        raise ArtifactError(f"not a valid reference file: {_first_line(e)}") from None
    cases: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        m = _KEY.fullmatch(key)
        if m is None:
            raise ArtifactError(f"reference file holds an unexpected tensor {key[:40]!r}")
        case = cases.setdefault(int(m.group(1)), {"name": m.group(2)})
        if case["name"] != m.group(2):
            raise ArtifactError(f"reference file: case {m.group(1)} has two names")
        case[m.group(3)] = np.array(t)  # a writable copy (torch warns on read-only arrays)
    if not cases:
        raise ArtifactError("reference file holds no parity cases")
    if sorted(cases) != list(range(len(cases))):
        raise ArtifactError("reference file: its cases are not numbered 0..n-1")
    ordered = [cases[i] for i in range(len(cases))]
    for i, c in enumerate(ordered):
        if "input" not in c or "output" not in c:
            raise ArtifactError(f"reference file: case {i} lacks its input or its output")
        if c["input"].dtype != np.float32 or c["output"].dtype != np.float32:
            raise ArtifactError(f"reference file: case {i} is not float32")
    return StoredReference(tuple(c["name"] for c in ordered),
                           tuple(c["input"] for c in ordered),
                           tuple(c["output"] for c in ordered), _seed(data))


def _seed(data: bytes) -> int:
    """The parity seed from the header's metadata (0 when absent; it is only reported)."""
    try:
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8:8 + n]).get("__metadata__") or {}
        return int(json.loads(meta.get(META, "{}")).get("seed", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


__all__ = ["REFERENCE", "REGISTRY", "SCHEMA", "USER", "StoredReference", "decode_reference",
           "encode_reference", "reference_name", "source_fields"]
