"""Find tensors an ONNX model keeps outside its own bytes, reading the protobuf wire format.

onnxruntime resolves an external-data ``location`` of a model loaded from bytes against the
process's current folder, so a tampered model file could read a file of the serving machine
(a key, a config) into a tensor and return it as output. This toolkit never writes external
data (its export lint refuses it), so the loaders refuse any model that has some before
onnxruntime sees it. Written against the wire format, not the ``onnx`` package, so the
torch-free, onnx-free deployment (``serving``) can use it too.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import ArtifactError

# field numbers from onnx.proto3 (stable since IR version 3): what can hold a TensorProto
_MODEL = {7: "graph", 20: "training", 25: "function"}
_TRAINING = {1: "graph", 2: "graph"}
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}
_FUNCTION = {7: "node", 11: "attribute"}
_NODE = {5: "attribute"}
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_SPARSE = {1: "tensor", 2: "tensor"}
_KIND = {"training": _TRAINING, "graph": _GRAPH, "function": _FUNCTION, "node": _NODE,
         "attribute": _ATTRIBUTE, "sparse": _SPARSE}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION, _EXTERNAL = 8, 13, 14, 1
_MAX_DEPTH = 100  # nested messages below the model: protobuf's own parser refuses deeper


class MalformedModel(ValueError):
    """The bytes are not a well-formed protobuf message."""


def external_tensors(data: bytes) -> list[str]:
    """Names of the tensors (initializers, ``Constant`` values, subgraph and function tensors)
    whose data ``data`` stores outside itself; raises :class:`MalformedModel` on bad bytes."""
    view = memoryview(data)
    return list(_walk(view, 0, len(view), _MODEL, 0))


def refuse_external_data(data: bytes, where: str = "") -> None:
    """Raise :class:`ArtifactError` unless ``data`` is a well-formed model holding all of its
    tensors; ``where`` (a path) prefixes the message."""
    prefix = f"{where}: " if where else ""
    try:
        outside = external_tensors(data)
    except MalformedModel as e:
        raise ArtifactError(f"{prefix}not a well-formed ONNX model ({e})") from None
    if outside:
        more = f" and {len(outside) - 1} more" if len(outside) > 1 else ""
        raise ArtifactError(f"{prefix}the model keeps tensors in files outside it (external "
                            f"data: {outside[0]!r}{more}); artifacts never do, so it was not "
                            "loaded")


def _walk(buf: memoryview, start: int, end: int, fields: dict[int, str],
          depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        raise MalformedModel("messages nested too deep")
    for number, value in _fields(buf, start, end):
        kind = fields.get(number)
        if kind is None or not isinstance(value, tuple):
            continue
        if kind == "tensor":
            name = _external_name(buf, *value)
            if name is not None:
                yield name
        else:
            yield from _walk(buf, *value, _KIND[kind], depth + 1)


def _external_name(buf: memoryview, start: int, end: int) -> str | None:
    name, external = "", False
    for number, value in _fields(buf, start, end):
        if number == _TENSOR_NAME and isinstance(value, tuple):
            name = bytes(buf[value[0]:value[1]]).decode("utf-8", "replace")
        elif number == _TENSOR_EXTERNAL_DATA or (
                number == _TENSOR_DATA_LOCATION and value == _EXTERNAL):
            external = True
    return (name or "<unnamed>") if external else None


def _fields(buf: memoryview, pos: int, end: int) -> Iterator[tuple[int, int | tuple[int, int]]]:
    """(field number, varint value or (start, end) of a length-delimited payload)."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise MalformedModel("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, value
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if size > end - pos:
                raise MalformedModel("a field runs past the end of its message")
            yield number, (pos, pos + size)
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise MalformedModel("a fixed-size field runs past the end of its message")
        else:  # 3, 4 (groups: not in onnx.proto) and 6, 7 (invalid)
            raise MalformedModel(f"wire type {wire}")


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise MalformedModel("a truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
