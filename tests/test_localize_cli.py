"""Localisation in the workflows: an export that fails parity names its first diverging node
(and keeps it, with a repro, beside a --keep-failed file); ``parity DIR --localize --json``
names the planted node of each registered block, null for a clean one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import plant
import pytest
from reliability_helpers import resign
from se_resnet import seresnet

from chanattn_export import api
from chanattn_export import localize as api_localize
from chanattn_export.check.localize_repro import read_repro
from chanattn_export.check.parity import compare
from chanattn_export.cli import main
from chanattn_export.export import Exported

SMALL = {"channels": 8, "ratio": 2, "height": 8, "width": 8}
BLOCKS = [("cbam-channel", "nchw"), ("se", "nhwc"), ("cbam", "nhwc"), ("se", "nchw")]
# What each block's file gets: a plant whose effect reaches the output whatever the weights.
PLANTS = {
    ("cbam-channel", "nchw"): (lambda m: plant.replace_op(m, "sigmoid", "HardSigmoid"),
                               "channel_attention"),
    ("se", "nhwc"): (lambda m: plant.scale_initializer(m, "fc2.bias", 3.0), ""),
    ("cbam", "nhwc"): (lambda m: plant.change_attribute(m, "conv2d", "pads", [3, 2, 3, 4]),
                       "spatial"),
}


def _name(model: str, layout: str) -> str:
    return f"{model}-{layout}-c8-r2-8x8.onnx"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("loc") / "art"
    for model, layout in BLOCKS:
        res = api.export_onnx(model, layout=layout, out=out, **SMALL)
        assert res.passed and res.path.name == _name(model, layout), res.path.name
    api.export_torchscript("se", out=out, **SMALL)
    return out


def test_parity_localize_json_names_each_planted_node(built: Path, tmp_path: Path,
                                                      capsys) -> None:
    folder = Path(shutil.copytree(built, tmp_path / "art"))
    planted = {}
    for key, (plant_fn, module) in PLANTS.items():
        rel = _name(*key)
        model = onnx.load(folder / rel)
        node = plant_fn(model)
        (folder / rel).write_bytes(model.SerializeToString())
        resign(folder, rel)
        planted[rel] = (node, module)
    assert main(["parity", str(folder), "--localize", "--json", "--trust-torchscript"]) == 1
    doc = json.loads(capsys.readouterr().out)
    arts = {a["path"]: a for a in doc["artifacts"]}
    for rel, (node, module) in planted.items():
        found = arts[rel]["first_divergence"]
        assert arts[rel]["passed"] is False
        assert {k: found[k] for k in ("node", "op_type", "output", "module")} == {
            "node": node.name, "op_type": node.op_type, "output": node.output[0],
            "module": module}, rel
        assert found["max_abs"] > 0 and found["tolerance"] == {"atol": 1e-5, "rtol": 1e-4}
        assert found["needed_atol"] > 1e-5 and found["case"] and found["input_shape"]
    clean = [a for a in doc["artifacts"] if a["path"] not in planted]
    assert len(clean) == 2 and all(a["passed"] and a["first_divergence"] is None for a in clean)
    # the text form: one line per failed artifact, naming the node
    assert main(["parity", str(folder), "--localize", "--trust-torchscript"]) == 1
    out = capsys.readouterr().out
    for rel, (node, _) in planted.items():
        assert any(line.startswith(rel) and f"node {node.name} ({node.op_type})" in line
                   for line in out.splitlines()), out


def test_parity_json_without_localize_has_no_first_divergence(built: Path, capsys) -> None:
    assert main(["parity", str(built), "--json", "--trust-torchscript"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert all("first_divergence" not in a for a in doc["artifacts"])


def _planted_exporter(monkeypatch, target: str, plant_fn) -> list[onnx.NodeProto]:
    """Make the next export return its real file with ``plant_fn`` applied."""
    import chanattn_export.export.subject as pipeline
    import chanattn_export.network.spec as network_spec

    nodes: list[onnx.NodeProto] = []
    real = pipeline.export_bytes if target == "block" else network_spec._export

    def planted(*args, **kwargs) -> Exported:
        ex = real(*args, **kwargs)
        model = onnx.load_from_string(ex.data)
        nodes.append(plant_fn(model))
        return Exported(model.SerializeToString(), ex.exporter, ex.fallback_reason)

    if target == "block":
        monkeypatch.setattr(pipeline, "export_bytes", planted)
    else:
        monkeypatch.setattr(network_spec, "_export", planted)
    return nodes


def test_failed_export_names_the_node_and_keeps_it_with_a_repro(monkeypatch, tmp_path: Path,
                                                               capsys) -> None:
    nodes = _planted_exporter(monkeypatch, "block",
                              lambda m: plant.replace_op(m, "sigmoid", "HardSigmoid"))
    out = tmp_path / "art"
    code = main(["onnx", "--model", "se", "--channels", "8", "--ratio", "2", "--height", "8",
                 "--width", "8", "--out", str(out), "--keep-failed"])
    assert code == 1
    text = capsys.readouterr().out
    (node,) = nodes
    rel = "se-nchw-c8-r2-8x8.onnx"
    assert f"{rel} (case random, input [1, 8, 8, 8]): first divergence: node {node.name} " \
           f"(HardSigmoid) -> sigmoid in the top module" in text
    repro = out / "failed" / f"{rel}.repro"
    assert f"repro: {repro}/" in text
    record = json.loads((out / "failed" / f"{rel}.json").read_text())
    assert record["parity"]["first_divergence"]["node"] == node.name
    assert record["parity"]["first_divergence"]["case"] == "random"
    model_bytes, inputs, expected = read_repro(repro)
    (got,) = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"]).run(
        None, inputs)
    assert compare("r", "r", expected, got, 1.0).needed_atol(1e-4) > 1e-5
    assert not (out / "manifest.json").exists() or rel not in (out / "manifest.json").read_text()


def test_failed_export_not_kept_writes_nothing_but_still_says_where(monkeypatch,
                                                                   tmp_path: Path) -> None:
    nodes = _planted_exporter(monkeypatch, "block",
                              lambda m: plant.scale_initializer(m, "view_1", 2.0))
    res = api.export_onnx("cbam-channel", layout="nhwc", out=tmp_path / "art", **SMALL)
    assert not res.passed and not res.written and res.repro_path is None
    assert not (tmp_path / "art" / "failed").exists()
    d = res.localized.divergence
    assert (d.node, d.module) == (nodes[0].name, "channel_attention")
    assert [c.name for c in d.constants] == ["view_1"]  # the scaled weight is named too


def test_failed_network_export_names_the_node_in_its_module(monkeypatch,
                                                           tmp_path: Path) -> None:
    net = seresnet(widths=(8, 16, 16, 32), num_classes=10)
    nodes = _planted_exporter(monkeypatch, "network",
                              lambda m: plant.scale_initializer(m, "layer3.1.se.fc2.weight"))
    res = api.export_onnx(net, input_shape=(1, 3, 32, 32), name="seresnet",
                          out=tmp_path / "art", keep_failed=True)
    assert not res.passed
    d = res.localized.divergence
    assert (d.node, d.module, d.op_type) == (nodes[0].name, "layer3.1.se.fc2", "Conv")
    assert res.repro_path is not None and (res.repro_path / "model.onnx").is_file()


def test_parity_localize_of_a_network_entry_says_it_needs_the_module(tmp_path: Path,
                                                                    capsys) -> None:
    net = seresnet(widths=(8, 16, 16, 32), num_classes=10)
    out = tmp_path / "art"
    res = api.export_onnx(net, input_shape=(1, 3, 32, 32), name="seresnet", out=out)
    assert res.passed
    model = onnx.load(res.path)
    node = plant.scale_initializer(model, "layer3.1.se.fc2.weight")
    res.path.write_bytes(model.SerializeToString())
    resign(out, res.path.name)
    assert main(["parity", str(out), "--localize", "--json"]) == 1
    (art,) = json.loads(capsys.readouterr().out)["artifacts"]
    assert art["first_divergence"] is None
    assert "chanattn_export.localize(module, path, input)" in art["localize_error"]
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    d = api_localize(net, res.path, x)  # with the module in hand, the API names it
    assert (d.node, d.module) == (node.name, "layer3.1.se.fc2")


def test_localize_failure_says_why_it_cannot_run() -> None:
    from chanattn_export.check.localize_failure import localize_failure
    from chanattn_export.check.parity import InputCase, judge
    from chanattn_export.spec import Format, Tolerance

    e = np.zeros((1, 2, 2, 2), np.float32)
    d = compare("torchscript-cpu", "random", e, e + 1, 1.0)
    report = judge([d], Tolerance())
    cases = [InputCase("random", e)]
    rec = localize_failure(object(), Format.TORCHSCRIPT, b"", report, cases, Tolerance())
    assert rec.divergence is None and "only ONNX files" in rec.reason
    assert rec.to_dict() == {"first_divergence": None, "localize_error": rec.reason}
    rec = localize_failure(None, Format.ONNX, b"", report, cases, Tolerance())
    assert "module is not in the folder" in rec.line("x.onnx")
    passed = judge([compare("b", "random", e, e, 1.0)], Tolerance())
    assert localize_failure(None, Format.ONNX, b"", passed, cases, Tolerance()) is None
