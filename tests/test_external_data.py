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
from chanattn_export.onnx_wire import MalformedModel, external_tensors
from chanattn_export.serving import load_artifact
from chanattn_export.verify import verify_folder

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
