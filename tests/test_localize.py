"""localize(): divergences planted in exported files are traced to the planted node, with its
module path, in registered blocks (both layouts) and in a timm-shaped SE-ResNet; a clean file
gives None; drift, a wrong capture and the legacy exporter are told apart from a broken node."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import plant
import pytest
import torch
from random_weights import randomize_
from se_resnet import seresnet
from torch import nn

import chanattn_export
from chanattn_export.api import make_export_spec
from chanattn_export.check import localize as localize_mod
from chanattn_export.check.localize import Divergence, localize
from chanattn_export.check.localize_repro import read_repro
from chanattn_export.check.parity import compare, input_scale
from chanattn_export.errors import LocalizeError
from chanattn_export.export import export_bytes
from chanattn_export.network.spec import network_spec
from chanattn_export.registry import build_model
from chanattn_export.spec import Tolerance

C = HW = 8  # C == H == W: a Reduce over other axes keeps its shape (the axes plants need it)


def _input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def blocks() -> dict[tuple[str, str], tuple[nn.Module, bytes, np.ndarray]]:
    """(model, layout) -> the eager block, its ONNX bytes and a batch-3 input."""
    out = {}
    for model in ("cbam-channel", "se", "cbam"):
        for layout in ("nchw", "nhwc"):
            spec = make_export_spec(model, channels=C, ratio=2, height=HW, width=HW,
                                    layout=layout)
            net = randomize_(build_model(spec.model, None, 0), 1)  # every weight matters
            x = _input(spec.input.shape(spec.model.layout, C, batch=3))
            out[model, layout] = net, export_bytes(net, spec).data, x
    return out


Plant = Callable[[onnx.ModelProto], onnx.NodeProto]
BLOCK_PLANTS: list[tuple[str, str, str, Plant, str]] = [
    # model, layout, what, plant, the module path the node runs in
    ("cbam-channel", "nchw", "scaled fc1", lambda m: plant.scale_initializer(m, "view"),
     "channel_attention"),
    ("cbam-channel", "nchw", "max->mean", lambda m: plant.replace_op(m, "amax", "ReduceMean"),
     "channel_attention"),
    ("cbam-channel", "nhwc", "max->mean", lambda m: plant.replace_op(m, "amax", "ReduceMean"),
     "channel_attention"),
    ("cbam-channel", "nhwc", "axes", lambda m: plant.change_axes(m, "mean", [2, 3]),
     "channel_attention"),
    ("se", "nchw", "sigmoid->hard", lambda m: plant.replace_op(m, "sigmoid", "HardSigmoid"), ""),
    ("se", "nchw", "axes", lambda m: plant.change_axes(m, "mean", [1, 2]), ""),
    ("se", "nhwc", "scaled fc2 bias", lambda m: plant.scale_initializer(m, "fc2.bias"), ""),
    ("se", "nhwc", "sigmoid->hard", lambda m: plant.replace_op(m, "sigmoid", "HardSigmoid"), ""),
    ("cbam", "nchw", "conv pads",
     lambda m: plant.change_attribute(m, "conv2d", "pads", [2, 3, 4, 3]), "spatial"),
    ("cbam", "nchw", "max->mean", lambda m: plant.replace_op(m, "amax", "ReduceMean"),
     "channel"),
    ("cbam", "nhwc", "conv pads",
     lambda m: plant.change_attribute(m, "conv2d", "pads", [3, 2, 3, 4]), "spatial"),
    ("cbam", "nhwc", "spatial sigmoid->hard",
     lambda m: plant.replace_op(m, "sigmoid_1", "HardSigmoid"), "spatial"),
]


def _planted(data: bytes, plant_fn: Plant) -> tuple[bytes, onnx.NodeProto]:
    model = onnx.load_from_string(data)
    node = plant_fn(model)
    return model.SerializeToString(), node


def _assert_names(d: Divergence | None, node: onnx.NodeProto, module: str) -> None:
    assert d is not None and d.mode == "node", d
    assert (d.node, d.op_type, d.output, d.module) == (node.name, node.op_type, node.output[0],
                                                        module)
    assert d.needed_atol > d.tolerance.atol and d.max_abs > 0
    assert d.before and all(b.agrees for b in d.before)  # the values just before still agree
    assert node.name in d.segment
    as_json = json.loads(json.dumps(d.to_dict()))
    assert {k: as_json[k] for k in ("node", "op_type", "output", "module")} == {
        "node": node.name, "op_type": node.op_type, "output": node.output[0], "module": module}
    assert as_json["tolerance"] == {"atol": 1e-5, "rtol": 1e-4}


@pytest.mark.parametrize(("model", "layout", "what", "plant_fn", "module"), BLOCK_PLANTS,
                         ids=[f"{m}-{lay}-{w}" for m, lay, w, _, _ in BLOCK_PLANTS])
def test_planted_node_in_a_block_is_named(blocks, model, layout, what, plant_fn,
                                          module) -> None:
    net, data, x = blocks[model, layout]
    bad, node = _planted(data, plant_fn)
    _assert_names(localize(net, bad, x), node, module)


@pytest.mark.parametrize("key", [(m, lay) for m in ("cbam-channel", "se", "cbam")
                                 for lay in ("nchw", "nhwc")], ids="-".join)
def test_clean_block_gives_none(blocks, key) -> None:
    net, data, x = blocks[key]
    assert localize(net, data, x) is None
    assert localize(net, data, torch.from_numpy(x * 100)) is None  # large inputs too


@pytest.fixture(scope="module")
def nets() -> dict[str, tuple[nn.Module, bytes, np.ndarray]]:
    """The timm-shaped SE-ResNet as is (timm's SEModule with conv fc1/fc2) and after
    swap_attention (our SqueezeExcite), each with its ONNX bytes and a batch-2 input."""
    net = seresnet(widths=(8, 16, 16, 32), num_classes=10)
    x = _input((2, 3, 32, 32), 1)
    swapped, report = chanattn_export.swap_attention(net, torch.from_numpy(x))
    assert len(report.replaced) == 8
    out = {}
    for name, n in (("timm", net), ("swapped", swapped)):
        spec = network_spec(n, "onnx", (1, 3, 32, 32), name="seresnet")
        out[name] = n, export_bytes(n, spec, registered=False).data, x
    return out


NET_PLANTS: list[tuple[str, str, Plant, str]] = [
    ("timm", "scaled se.fc2",
     lambda m: plant.scale_initializer(m, "layer3.1.se.fc2.weight"), "layer3.1.se.fc2"),
    ("timm", "se gate sigmoid->hard",
     lambda m: plant.replace_op(m, _output_in(m, "Sigmoid", "layer2.0.se.gate"), "HardSigmoid"),
     "layer2.0.se.gate"),
    ("swapped", "se sigmoid->hard",
     lambda m: plant.replace_op(m, _output_in(m, "Sigmoid", "layer3.1.se"), "HardSigmoid"),
     "layer3.1.se"),
    ("swapped", "se axes",  # layer1: C == H == W == 8
     lambda m: plant.change_axes(m, _output_in(m, "ReduceMean", "layer1.0.se"), [1, 2]),
     "layer1.0.se"),
    # BatchNorm is fused into the conv before it; the fused node keeps the BatchNorm's scope
    ("swapped", "conv pads",
     lambda m: plant.change_attribute(m, _output_in(m, "Conv", "layer2.1.bn2"), "pads",
                                      [0, 0, 2, 2]), "layer2.1.bn2"),
]


def _output_in(model: onnx.ModelProto, op_type: str, module: str) -> str:
    """The output of the ``op_type`` node that runs directly in ``module``."""
    from chanattn_export.check.localize_values import module_of

    return next(n.output[0] for n in model.graph.node
                if n.op_type == op_type and module_of(n)[0] == module)


@pytest.mark.parametrize(("which", "what", "plant_fn", "module"), NET_PLANTS,
                         ids=[f"{w}-{what}" for w, what, _, _ in NET_PLANTS])
def test_planted_node_in_a_network_is_named(nets, which, what, plant_fn, module) -> None:
    net, data, x = nets[which]
    bad, node = _planted(data, plant_fn)
    _assert_names(localize(net, bad, x), node, module)


def test_clean_network_gives_none(nets) -> None:
    for net, data, x in nets.values():
        assert localize(net, data, x) is None


def test_repro_reproduces_the_divergence_alone(nets, tmp_path: Path) -> None:
    net, data, x = nets["timm"]
    bad, node = _planted(data, lambda m: plant.scale_initializer(m, "layer3.1.se.fc2.weight"))
    d = localize(net, bad, x, repro=tmp_path / "repro")
    assert d is not None
    model_bytes, inputs, expected = read_repro(tmp_path / "repro")
    sub = onnx.load_from_string(model_bytes)
    assert [n.name for n in sub.graph.node] == list(d.segment) == [node.name]
    assert sorted(inputs) == sorted(b.name for b in d.before)
    (got,) = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"]).run(
        None, inputs)
    diff = compare("repro", "repro", expected, got, input_scale(x))
    assert diff.needed_atol(1e-4) > 1e-5  # the cut alone still diverges
    assert json.loads((tmp_path / "repro" / "divergence.json").read_text())["node"] == node.name
    d.write_repro(tmp_path / "repro")  # a second write replaces the folder
    assert sorted(p.name for p in (tmp_path).iterdir()) == ["repro"]


class Chain(nn.Module):
    """Twelve 1x1 convs, each near the identity: rounding compounds along them."""

    def __init__(self, c: int = 16, n: int = 12) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(n))
        with torch.no_grad():
            for conv in self.layers:
                conv.weight.copy_(torch.eye(c)[:, :, None, None]
                                  + 0.05 * torch.randn(c, c, 1, 1))
                conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.layers:
            x = torch.relu(conv(x)) + 0.5 * x
        return x


def test_drift_names_the_nodes_adding_most_error_not_a_wrong_first_node() -> None:
    net = Chain().eval()
    data = export_bytes(net, network_spec(net, "onnx", (1, 16, 6, 6), name="chain"),
                        registered=False).data
    model = onnx.load_from_string(data)
    weights = [t.name for t in model.graph.initializer if t.name.endswith("weight")]
    assert len(weights) == 12
    for name in weights:  # 4e-5 each: inside rtol alone, 12 of them are not
        plant.scale_initializer(model, name, 1 + 4e-5)
    x = _input((1, 16, 6, 6))
    d = localize(net, model.SerializeToString(), x)
    assert d is not None and d.mode == "drift" and d.node is None
    assert len(d.drift) == 5
    assert all(s.op_type == "Conv" and s.module.startswith("layers.") for s in d.drift)
    added = [s.added for s in d.drift]
    assert added == sorted(added, reverse=True) and added[-1] > 0
    assert d.to_dict()["drift"][0]["node"] == d.drift[0].node
    assert "no single node" in d.line()
    with pytest.raises(LocalizeError, match="no single node"):
        d.write_repro("unused")


class ExportsOtherwise(nn.Module):
    """Computes something else while torch.export traces it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (2.0 if torch.compiler.is_exporting() else 3.0)


def test_capture_divergence_is_not_blamed_on_an_onnx_node() -> None:
    net = ExportsOtherwise()
    data = export_bytes(net, network_spec(net, "onnx", (1, 4, 3, 3), name="other"),
                        registered=False).data
    d = localize(net, data, _input((2, 4, 3, 3)))
    assert d is not None and d.mode == "capture" and d.node is None
    assert "before ONNX" in d.line()


def test_divergence_only_with_runtime_optimisations_says_so(blocks, monkeypatch) -> None:
    net, data, x = blocks["se", "nchw"]
    monkeypatch.setattr(localize_mod, "_shipped_output",
                        lambda data, model, x: net(torch.from_numpy(x)).detach().numpy() + 1)
    d = localize(net, data, x)
    assert d is not None and d.mode == "optimizer" and d.node is None
    assert "optimisations" in d.line()


def test_legacy_export_says_it_cannot_be_localised() -> None:
    spec = make_export_spec("se", channels=C, height=HW, width=HW, exporter="legacy", opset=17)
    net = build_model(spec.model, None, 0)
    data = export_bytes(net, spec).data
    with pytest.raises(LocalizeError, match="cannot be localised"):
        localize(net, data, _input((1, C, HW, HW)))


def test_public_api_and_bad_arguments(blocks, tmp_path: Path) -> None:
    net, data, x = blocks["se", "nchw"]
    path = tmp_path / "se.onnx"
    path.write_bytes(data)
    assert chanattn_export.localize is localize
    assert chanattn_export.localize(net, path, x, tolerance=Tolerance()) is None
    with pytest.raises(chanattn_export.ChanAttnError, match="missing"):
        localize(net, tmp_path / "missing.onnx", x)
    with pytest.raises(LocalizeError, match=r"torch\.nn\.Module"):
        localize("se", path, x)
    with pytest.raises(LocalizeError, match="float32"):
        localize(net, path, x.astype(np.float64))
    with pytest.raises(LocalizeError, match=r"not an ONNX model|well-formed"):
        localize(net, b"not onnx", x)
    with pytest.raises(LocalizeError, match="is this the module the file was exported from"):
        localize(Scaled(), path, x)


class Scaled(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 3.0
