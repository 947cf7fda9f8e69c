"""The stored parity evidence of an artifact: the inputs it was judged on and the eager outputs.

Every export keeps, beside the model file, an *evidence file*: the parity inputs and what the
eager module returned for them. ``verify DIR`` and ``parity DIR`` run the artifact on those
inputs and judge it against those outputs, so a folder can be checked where neither torch nor
the exporting code exists (a deployment host, a user network whose code is not ours). A
registered block is also rebuilt from its weights file and compared at fresh inputs, on top.

The file is safetensors (tensors ``<index>.<case>.input`` / ``<index>.<case>.output``): its
header is checked against the file's length before any tensor is read, so untrusted bytes
cannot decompress into gigabytes or run code (an ``.npz`` may do the first, a pickle the
second). It is read by :mod:`..fileio.safetensors` (numpy only) and written by the
``safetensors`` package. Its name carries its sha256 prefix like a weights file:
``<stem>.reference.<sha[:12]>.safetensors``; the manifest entry names it in ``reference``.

What it holds: every parity input when they fit :data:`EVIDENCE_MAX_BYTES` (inputs plus
outputs), otherwise those of :func:`evidence_order` that fit, in that order (each case at
batch 1 first, the never-traced batch early): a block of 64 x 56 x 56 keeps 7 of its 15.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArtifactError
from ..fileio.safetensors import read_safetensors

REGISTRY, USER = "registry", "user"  # a registered block (rebuildable) or a user's network
REFERENCE = "reference"  # the role of the reference file in an entry's 'files'
SCHEMA = "chanattn_export.network-reference/1"  # kept: the format is the one networks had
EVIDENCE_MAX_BYTES = 16 << 20  # inputs + outputs stored per artifact
META = "chanattn_export"  # the one metadata key: a JSON object with schema, model and seed
_NAME = re.compile(r".+\.reference\.([0-9a-f]{12})\.safetensors")
_KEY = re.compile(r"(\d{4})\.([A-Za-z0-9_-]+)\.(input|output)")


def reference_name(stem: str, sha256: str) -> str:
    return f"{stem}.reference.{sha256[:12]}.safetensors"


def source_fields(d: Mapping[str, Any], where: str,
                  sha_of: Mapping[str, str]) -> tuple[str, str | None]:
    """``(source, reference)`` of a raw manifest entry; ``sha_of`` maps its files to sha256.

    A user network must name its evidence file; a registered block names one since the
    evidence model (older manifests do not, and are then re-checked by rebuilding only)."""
    source, ref = d.get("source", REGISTRY), d.get("reference")
    if source not in (REGISTRY, USER):
        raise ArtifactError(f"{where}: 'source' must be {REGISTRY!r} or {USER!r}")
    if ref is None and source == REGISTRY:
        return source, None
    if not isinstance(ref, str) or ref not in sha_of or ref in (d.get("path"), d.get("weights")):
        raise ArtifactError(f"{where}: 'reference' must name the evidence file, listed in "
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
    tensors, meta = read_safetensors(data, "not a valid reference file")
    cases: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        m = _KEY.fullmatch(key)
        if m is None:
            raise ArtifactError(f"reference file holds an unexpected tensor {key[:40]!r}")
        case = cases.setdefault(int(m.group(1)), {"name": m.group(2)})
        if case["name"] != m.group(2):
            raise ArtifactError(f"reference file: case {m.group(1)} has two names")
        case[m.group(3)] = t  # a writable copy (torch warns on read-only arrays)
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
                           tuple(c["output"] for c in ordered), _seed(meta))


def _seed(meta: Mapping[str, str]) -> int:
    """The parity seed from the metadata (0 when absent; it is only reported)."""
    try:
        return int(json.loads(meta.get(META, "{}")).get("seed", 0))
    except (ValueError, TypeError, AttributeError, RecursionError):
        return 0


def evidence_order(names: Sequence[str], inputs: Sequence[np.ndarray],
                   traced_batch: int | None = None) -> list[int]:
    """Indices of the cases by how much they are worth keeping: every case at batch 1 (the
    hard inputs: each probes its own failure), then the never-traced batches, then the rest."""
    def rank(i: int) -> tuple[int, int]:
        n = int(inputs[i].shape[0]) if inputs[i].ndim else 1
        tier = 0 if n == 1 else 2 if n == traced_batch else 1
        return (tier, i)

    return sorted(range(len(names)), key=rank)


def select_evidence(names: Sequence[str], inputs: Sequence[np.ndarray],
                    outputs: Sequence[np.ndarray], traced_batch: int | None = None,
                    budget: int = EVIDENCE_MAX_BYTES) -> list[int]:
    """The cases the evidence file keeps (indices in the original order): all of them when
    they fit ``budget`` bytes, else those of :func:`evidence_order` that fit; never none."""
    size = [x.nbytes + y.nbytes for x, y in zip(inputs, outputs, strict=True)]
    keep: list[int] = []
    used = 0
    for i in evidence_order(names, inputs, traced_batch):
        if used + size[i] <= budget or not keep:
            keep.append(i)
            used += size[i]
    return sorted(keep)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


__all__ = ["EVIDENCE_MAX_BYTES", "REFERENCE", "REGISTRY", "SCHEMA", "USER", "StoredReference",
           "decode_reference", "encode_reference", "evidence_order", "reference_name",
           "select_evidence", "source_fields"]
