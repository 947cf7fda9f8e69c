"""A torch-free, safetensors-free reader of safetensors bytes, for untrusted evidence files.

The evidence a folder keeps (parity inputs and eager outputs) must be checkable on a deployment
host that has only numpy and onnxruntime, so this reads the format itself: an 8-byte
little-endian header length, a JSON header ``{name: {dtype, shape, data_offsets}}`` plus an
optional ``__metadata__`` map of strings, then the tensor bytes. Every field is checked against
the buffer before a tensor is made (offsets inside it, sizes equal to the shape's, no overlap),
so hostile bytes give one :class:`ArtifactError` line, never a crash or a huge allocation.
The files are written with the ``safetensors`` package (export hosts have it).
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np

from ..errors import ArtifactError

MAX_HEADER_BYTES = 1 << 24  # the format's own limit is 100 MB; ours are a few KB
DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
          "I32": np.int32, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(data: bytes, what: str = "safetensors file"
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of safetensors ``data``; tensors are writable copies."""
    if len(data) < 8:
        raise ArtifactError(f"{what}: {len(data)} bytes, too short for a safetensors header")
    n = int.from_bytes(data[:8], "little")
    if n > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ArtifactError(f"{what}: header length {n} exceeds the file or the "
                            f"{MAX_HEADER_BYTES}-byte limit")
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, RecursionError) as e:
        raise ArtifactError(f"{what}: header is not JSON ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise ArtifactError(f"{what}: header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in meta.items()):
        raise ArtifactError(f"{what}: __metadata__ must map strings to strings")
    body = memoryview(data)[8 + n:]
    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        dtype, shape, (begin, end) = _fields(name, info, what)
        size = math.prod(shape) * np.dtype(dtype).itemsize
        if not 0 <= begin <= end <= len(body) or end - begin != size:
            raise ArtifactError(f"{what}: tensor {name[:40]!r} has offsets [{begin}, {end}] "
                                f"that do not fit its shape {shape} or the file")
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
    spans.sort()
    for (_, end_a, a), (begin_b, _, b) in itertools.pairwise(spans):
        if begin_b < end_a:
            raise ArtifactError(f"{what}: tensors {a[:40]!r} and {b[:40]!r} overlap")
    return tensors, dict(meta)


def _fields(name: Any, info: Any, what: str) -> tuple[Any, list[int], tuple[int, int]]:
    ok = isinstance(info, dict) and info.get("dtype") in DTYPES
    shape = info.get("shape") if ok else None
    offsets = info.get("data_offsets") if ok else None
    if not (ok and _ints(shape) and _ints(offsets) and len(offsets) == 2 and len(shape) <= 8):
        raise ArtifactError(f"{what}: tensor {str(name)[:40]!r} has a bad dtype, shape or "
                            "data_offsets")
    return DTYPES[info["dtype"]], shape, (offsets[0], offsets[1])


def _ints(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                       for i in v)


__all__ = ["read_safetensors"]
