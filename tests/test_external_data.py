"""A model file that keeps a tensor "outside" itself is refused before onnxruntime reads it.

onnxruntime resolves the external-data location of a model loaded from bytes against the
process's current folder, so a tampered artifact could read a file of the serving machine and
return it as output. Serving, verify and parity all refuse such a model, unloaded."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from reliability_helpers import ONNX_NAME, resign

from chanattn_export import ArtifactError
from chanattn_export.check.verify import verify_folder
from chanattn_export.fileio.onnx_wire import MalformedModel, external_tensors, refuse_external_data
from chanattn_export.serving import load_artifact

SECRET = b"API_KEY=hunter2-0123456789"


def _outside(name: str, location: str = "secret.txt", size: int = 8,
             dtype: int = TensorProto.UINT8) -> TensorProto:
    t = TensorProto(name=name, data_type=dtype, dims=[size])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(size))):
        t.external_data.add(key=key, value=value)
    return t


def _stealing_model() -> bytes:
    """Returns the first 8 bytes of ./secret.txt, whatever its input."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["w"], ["output"], to=TensorProto.FLOAT)], "steal",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 8, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [8])],
        initializer=[_outside("w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]) \
        .SerializeToString()


@pytest.fixture
def stolen_cwd(tmp_path: Path, monkeypatch) -> Path:
    """The serving process's folder, holding a secret next to it."""
    cwd = tmp_path / "server"
    cwd.mkdir()
    (cwd / "secret.txt").write_bytes(SECRET)
    monkeypatch.chdir(cwd)
    return cwd


def test_plain_onnxruntime_would_read_the_file(stolen_cwd: Path) -> None:
    """The threat is real on the installed onnxruntime (else the tests below prove nothing)."""
    session = ort.InferenceSession(_stealing_model(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": np.zeros((1, 8, 8, 8), np.float32)})[0]
    assert bytes(got.astype(np.uint8)) == SECRET[:8]


def _plant(folder: Path) -> None:
    (folder / ONNX_NAME).write_bytes(_stealing_model())
    resign(folder, ONNX_NAME)  # the attacker also rewrote the manifest's checksums


def test_serving_refuses_it(folder: Path, stolen_cwd: Path) -> None:
    _plant(folder)
    with pytest.raises(ArtifactError, match=r"external data: 'w'.*not loaded"):
        load_artifact(folder, ONNX_NAME)


def test_verify_and_parity_refuse_it(folder: Path, stolen_cwd: Path) -> None:
    from chanattn_export.api import check_parity

    _plant(folder)
    problems = [p for p in verify_folder(folder) if p.path == ONNX_NAME]
    assert any("external data: 'w'" in p.message for p in problems), problems
    with pytest.raises(ArtifactError, match=rf"{ONNX_NAME}: cannot load: .*external data"):
        check_parity(folder)


def _graph_with(nodes: list, initializers: list, sparse: list | None = None):
    return helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, [2])],
        initializer=initializers, sparse_initializer=sparse or [])


def test_every_place_a_tensor_can_live_is_searched() -> None:
    inner = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=_outside("in_branch", size=2,
                                                                dtype=TensorProto.FLOAT))],
        "branch", [], [helper.make_tensor_value_info("k", TensorProto.FLOAT, [2])])
    sparse = helper.make_sparse_tensor(_outside("sparse_values", size=1,
                                                dtype=TensorProto.FLOAT),
                                       helper.make_tensor("idx", TensorProto.INT64, [1], [0]),
                                       [4])
    nodes = [helper.make_node("Constant", [], ["a"], value=_outside("in_constant")),
             helper.make_node("If", ["c"], ["o"], then_branch=inner, else_branch=inner)]
    fn = helper.make_function("my", "F", ["x"], ["y"], [
        helper.make_node("Constant", [], ["y"], value=_outside("in_function"))],
        [helper.make_opsetid("", 18)])
    kept = helper.make_tensor("kept", TensorProto.FLOAT, [1], [1.0])
    model = helper.make_model(_graph_with(nodes, [_outside("initializer"), kept], [sparse]),
                              functions=[fn], opset_imports=[helper.make_opsetid("", 18)])
    found = external_tensors(model.SerializeToString())
    assert sorted(set(found)) == ["in_branch", "in_constant", "in_function", "initializer",
                                  "sparse_values"]
    clean = helper.make_model(_graph_with([], [kept]))
    assert external_tensors(clean.SerializeToString()) == []


def test_a_tensor_marked_external_by_location_alone_is_found() -> None:
    t = helper.make_tensor("flagged", TensorProto.FLOAT, [1], [1.0])
    t.data_location = TensorProto.EXTERNAL  # no external_data entries: still not inside
    model = helper.make_model(_graph_with([], [t]))
    assert external_tensors(model.SerializeToString()) == ["flagged"]


def test_the_toolkits_own_artifacts_hold_everything(pristine: Path) -> None:
    assert external_tensors((pristine / ONNX_NAME).read_bytes()) == []


def test_damaged_bytes_give_malformed_never_another_error(pristine: Path) -> None:
    data = (pristine / ONNX_NAME).read_bytes()
    rng = random.Random(0)
    malformed = 0
    for _ in range(400):
        b = bytearray(data[:rng.randint(0, len(data))])
        for _ in range(rng.randint(1, 4)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        try:
            external_tensors(bytes(b))
        except MalformedModel:
            malformed += 1
    assert malformed > 0  # the damage was seen at least sometimes (the rest parsed)
    with pytest.raises(MalformedModel):
        external_tensors(b"\x0a\xff\xff\xff\xff\x0f")  # a length running past the end


# --- the wire format by hand: what protobuf accepts is parsed, what it refuses is refused ---

def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # negative ints: ten bytes, as protobuf writes them
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        if not v:
            return out + bytes([b])
        out += bytes([b | 0x80])


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _nested(depth: int) -> bytes:
    """A model whose messages nest ``depth`` deep: graph > node > attribute > graph > ..."""
    numbers = [7] + [(1, 5, 6)[i % 3] for i in range(depth - 1)]
    payload = b""
    for n in reversed(numbers):
        payload = _field(n, payload)
    return payload


def test_nesting_is_refused_exactly_where_protobuf_refuses_it() -> None:
    import onnx

    for depth in (1, 50, 99, 100, 101, 102, 150, 5000):
        data = _nested(depth)
        try:
            onnx.load_from_string(data)
            accepted = True
        except Exception:
            accepted = False
        if accepted:
            assert external_tensors(data) == [], depth
        else:
            with pytest.raises(MalformedModel, match=r"^messages nested too deep$"):
                external_tensors(data)


def _tensor(*fields: bytes) -> bytes:
    return _field(7, _field(5, b"".join(fields)))  # model.graph.initializer


EXTERNAL = _varint(14 << 3 | 0) + _varint(1)  # data_location: EXTERNAL


@pytest.mark.parametrize(("before", "why"), [
    (_varint(99 << 3 | 1) + bytes(8), "an unknown fixed64 field"),
    (_varint(99 << 3 | 5) + bytes(4), "an unknown fixed32 field"),
    (_varint(99 << 3 | 0) + _varint(-1), "a negative int (ten-byte varint)"),
    (_field(9, bytes(20000)), "raw_data longer than a one-byte length"),
])
def test_fields_of_every_wire_type_are_stepped_over(before: bytes, why: str) -> None:
    data = _tensor(before, _field(8, b"w"), EXTERNAL)
    assert external_tensors(data) == ["w"], why


def test_a_fixed_size_field_may_end_its_message() -> None:
    assert external_tensors(_tensor(_field(8, b"w"), EXTERNAL, _varint(99 << 3 | 1) +
                                    bytes(8))) == ["w"]


def test_unnamed_and_undecodable_names_are_still_reported() -> None:
    assert external_tensors(_tensor(EXTERNAL)) == ["<unnamed>"]
    assert external_tensors(_tensor(_field(8, b"w\xff"), EXTERNAL)) == ["w\ufffd"]


@pytest.mark.parametrize(("data", "message"), [
    (_varint(7 << 3 | 2) + _varint(5) + b"ab", "a field runs past the end of its message"),
    (_varint(99 << 3 | 1) + bytes(7), "a fixed-size field runs past the end of its message"),
    (_varint(99 << 3 | 5) + bytes(3), "a fixed-size field runs past the end of its message"),
    (_varint(0 << 3 | 0) + _varint(1), "field number 0"),
    (_varint(99 << 3 | 3), "wire type 3"),
    (_varint(99 << 3 | 0) + b"\xff", "a truncated or overlong varint"),
    (_varint(99 << 3 | 0) + b"\xff" * 10 + b"\x01", "a truncated or overlong varint"),
])
def test_malformed_bytes_are_named(data: bytes, message: str) -> None:
    with pytest.raises(MalformedModel, match=f"^{message}$"):
        external_tensors(data)
    with pytest.raises(ArtifactError, match=rf"^m.onnx: not a well-formed ONNX model "
                                            rf"\({message}\)$"):
        refuse_external_data(data, "m.onnx")


def test_the_refusal_names_the_first_tensor_and_counts_the_rest() -> None:
    one = _tensor(_field(8, b"a"), EXTERNAL)
    with pytest.raises(ArtifactError, match=r"^the model keeps .*\(external data: 'a'\); "):
        refuse_external_data(one)
    for more in (1, 3):
        many = b"".join(_tensor(_field(8, n), EXTERNAL) for n in (b"a", b"b", b"c", b"d")[
            :more + 1])
        with pytest.raises(ArtifactError,
                           match=rf"^x.onnx: .*\(external data: 'a' and {more} more\)"):
            refuse_external_data(many, "x.onnx")
    refuse_external_data(_tensor(_field(8, b"a")))  # inside the file: nothing to refuse


def test_the_graph_lint_reports_tensors_the_onnx_walk_does_not_reach() -> None:
    """`inspect` lints untrusted files and runs clean ones in onnxruntime: a tensor outside the
    file must stop that run wherever it hides (here a function body and a sparse initializer)."""
    from chanattn_export.export.lint import lint_onnx

    fn = helper.make_function("my", "F", ["x"], ["y"], [
        helper.make_node("Constant", [], ["y"], value=_outside("in_function"))],
        [helper.make_opsetid("", 18)])
    sparse = helper.make_sparse_tensor(_outside("sparse_values", size=1, dtype=TensorProto.FLOAT),
                                       helper.make_tensor("idx", TensorProto.INT64, [1], [0]), [4])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2])],
        initializer=[_outside("init")], sparse_initializer=[sparse])
    model = helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 18)])
    problems = lint_onnx(model.SerializeToString())
    assert {p.rule for p in problems} == {"external-data"}  # and so no onnxruntime run
    text = " ".join(p.message for p in problems)
    for name in ("init", "in_function", "sparse_values"):
        assert f"tensor {name} is stored outside the file" in text


def test_the_lint_reports_each_outside_tensor_once() -> None:
    """The wire scan's finds are added only where the lint's own walk did not report them: an
    unnamed Constant is one problem, a function tensor sharing a graph tensor's name another."""
    from chanattn_export.export.lint import lint_onnx

    unnamed = _outside("")
    fn = helper.make_function("my", "F", ["x"], ["y"], [
        helper.make_node("Constant", [], ["y"], value=_outside("w"))],
        [helper.make_opsetid("", 18)])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=unnamed, name="const")], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("c", TensorProto.UINT8, [8])],
        initializer=[_outside("w")])
    model = helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 18)])
    assert [str(p) for p in lint_onnx(model.SerializeToString())] == [
        "external-data: tensor w is stored outside the file (in secret.txt); the .onnx does not "
        "work alone",
        "external-data: tensor const is stored outside the file (in secret.txt); the .onnx does "
        "not work alone",
        "external-data: tensor w is stored outside the file (in a function, sparse tensor or "
        "tensor list); the .onnx does not work alone",
    ]
