"""swap_attention: a network built from the tutorial's classes gets our blocks, same weights,
same outputs, and exports with dynamic batch and H x W."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
import tutorial_reference as tut
from torch import nn

from chanattn_export import swap_attention
from chanattn_export.export.onnx import export_onnx_bytes
from chanattn_export.models import ChannelAttention, UseAttentionModel
from chanattn_export.spec import ExportSpec, InputSpec, ModelSpec


class TutorialNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.att = tut.UseAttentionModel(16)  # in_planes 16, ratio 16: hidden 1
        self.body = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
        self.gate = tut.ChannelAttention(32, ratio=8)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.att(torch.relu(self.stem(x))))
        x = x * self.gate(x)
        return self.head(x.mean((2, 3)))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return TutorialNet().eval()


def test_tutorial_network_is_swapped_with_the_same_function() -> None:
    net = _net()
    new, report = swap_attention(net, torch.randn(2, 3, 12, 10))
    assert [(s.path, s.original, s.replacement) for s in report.swaps] == [
        ("att", "UseAttentionModel", "UseAttentionModel"),
        ("gate", "ChannelAttention", "ChannelAttention")]
    assert all(s.passed and s.needed_atol <= 1e-5 for s in report.swaps)
    assert isinstance(new.att, UseAttentionModel) and isinstance(new.gate, ChannelAttention)
    assert not any(isinstance(m, nn.AdaptiveMaxPool2d) for m in new.modules())
    assert isinstance(net.att, tut.UseAttentionModel)  # the original is untouched
    for shape in [(1, 3, 12, 10), (5, 3, 7, 19)]:
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(new(x), net(x), rtol=1e-5, atol=1e-6)


def test_swapped_network_exports_with_dynamic_batch_and_size() -> None:
    net = _net()
    new, _ = swap_attention(net)
    spec = ExportSpec(ModelSpec("tutorial-net", 3, None),
                      InputSpec(batch=2, height=12, width=10, dynamic_hw=True))
    data = export_onnx_bytes(new, spec, "test").data
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((5, 3, 7, 19)).astype(np.float32)
    (y,) = sess.run(None, {"input": x})
    with torch.no_grad():
        np.testing.assert_allclose(y, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


class EcaModule(nn.Module):
    """timm 1.0.31's EcaModule forward at default arguments (copied: timm is not importable)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        t = int(abs(math.log(channels, 2) + 1) / 2)
        k = max(t if t % 2 else t + 1, 3)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = torch.sigmoid(self.conv(y)).view(x.shape[0], -1, 1, 1)
        return x * y.expand_as(x)


class SEModule(nn.Module):
    """Looks like timm's SEModule but gates with a hard sigmoid: not the same function."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, 4, 1), nn.Conv2d(4, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * F.hardsigmoid(s)


def test_channel_count_comes_from_an_example_and_wrong_functions_are_kept() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(EcaModule(24), SEModule(24)).eval()
    new, report = swap_attention(net)
    assert [s.replacement for s in report.swaps] == [None, None]
    assert "pass example=" in report.swaps[0].reason
    assert "parity failed" in report.swaps[1].reason
    new, report = swap_attention(net, torch.randn(1, 24, 6, 6))
    assert [s.replacement for s in report.swaps] == ["EfficientChannelAttention", None]
    x = torch.randn(3, 24, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(new(x), net(x), rtol=1e-5, atol=1e-6)
