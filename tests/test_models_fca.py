"""FcaNet (``fca``) against the official code: its DCT filters at any number of channels and
any ``dct_h``, its module tree and state dict, its defaults, and the NHWC ONNX file.

The references are written here from the official FcaNet code (``get_dct_filter``, the
``mapper_x * (dct_h // 7)`` scaling, ``MultiSpectralAttentionLayer``), independently of
``chanattn_export.models.fca``.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from chanattn_export import create_model
from chanattn_export.api import make_export_spec
from chanattn_export.export import export_bytes
from chanattn_export.models.fca import FrequencyChannelAttention, dct_filters
from chanattn_export.registry import build_model

# FcaNet's top16 frequencies on the 7 x 7 grid (official get_freq_indices('top16')).
OFFICIAL_X = [0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2]
OFFICIAL_Y = [0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2]


def official_dct(channels: int, n: int, size: int = 7) -> torch.Tensor:
    """The official ``get_dct_filter(size, size, mapper_x, mapper_y, channels)`` with the first
    ``n`` top16 frequencies, scaled by ``size // 7`` as ``MultiSpectralAttentionLayer`` does."""

    def bf(pos: int, freq: int, length: int) -> float:
        r = math.cos(math.pi * freq * (pos + 0.5) / length) / math.sqrt(length)
        return r if freq == 0 else r * math.sqrt(2)

    xs = [u * (size // 7) for u in OFFICIAL_X[:n]]
    ys = [v * (size // 7) for v in OFFICIAL_Y[:n]]
    f = torch.zeros(channels, size, size)
    part = channels // n
    for i, (u, v) in enumerate(zip(xs, ys, strict=True)):
        for tx in range(size):
            for ty in range(size):
                f[i * part:(i + 1) * part, tx, ty] = bf(tx, u, size) * bf(ty, v, size)
    return f


@pytest.mark.parametrize("size", [7, 10, 14])
def test_dct_filters_match_the_official_filter_at_other_dct_sizes(size: int) -> None:
    # The official code scales the 7 x 7 frequency indices by the integer dct_h // 7
    # (14 for 256-channel stages, ...; 10 // 7 == 1 keeps them).
    torch.testing.assert_close(dct_filters(32, size), official_dct(32, 16, size))


def test_frequency_count_is_the_largest_of_16_8_4_2_1_dividing_the_channels() -> None:
    # The official code needs C % 16 == 0; for other C each of the gcd(C, 16) channel groups
    # gets the next top16 frequency (gcd(C, 16) is the largest of 16, 8, 4, 2, 1 dividing C).
    for c in range(1, 49):
        m = FrequencyChannelAttention(c, hidden=1)
        torch.testing.assert_close(m.dct_layer.weight, official_dct(c, math.gcd(c, 16)),
                                   msg=f"C={c}")


def test_defaults_are_the_papers_reduction_16_without_biases() -> None:
    m = FrequencyChannelAttention(64)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    # the official checkpoint's names and shapes: nothing else (no fc biases) to load
    assert shapes == {"dct_layer.weight": (64, 7, 7), "fc.0.weight": (4, 64),
                      "fc.2.weight": (64, 4)}


def test_fc_is_the_official_excitation_module() -> None:
    # Official MultiSpectralAttentionLayer.forward: y = self.fc(dct(pooled x)); x * y. Code
    # ported from it calls ``fc`` as a module (Linear, ReLU, Linear, Sigmoid).
    torch.manual_seed(3)
    m = create_model("fca", channels=32, ratio=4)
    x = torch.randn(2, 32, 9, 11)
    y = (F.adaptive_avg_pool2d(x, 7) * m.dct_layer.weight).sum((2, 3))
    with torch.no_grad():
        torch.testing.assert_close(m(x), x * m.fc(y)[:, :, None, None], rtol=1e-5, atol=1e-6)


def test_hidden_width_is_honoured() -> None:
    # ``hidden`` (what a checkpoint's fc.0.weight implies) overrides C // ratio.
    torch.manual_seed(4)
    m = create_model("fca", channels=32, hidden=6)
    assert tuple(m.fc[0].weight.shape) == (6, 32) and tuple(m.fc[2].weight.shape) == (32, 6)
    x = torch.randn(2, 32, 7, 7)
    y = (x * m.dct_layer.weight).sum((2, 3))
    g = torch.sigmoid(torch.relu(y @ m.fc[0].weight.T) @ m.fc[2].weight.T)
    with torch.no_grad():
        torch.testing.assert_close(m(x), x * g[:, :, None, None], rtol=1e-5, atol=1e-6)


def test_the_folded_pooling_follows_the_models_dtype() -> None:
    # The eager float16 benchmark runs net.half(); float64 shows the same rule on the CPU:
    # at a size that is not 7 x 7 the pooling matrices must take the filters' dtype.
    torch.manual_seed(5)
    m = create_model("fca", channels=16, ratio=4)
    x = torch.randn(2, 16, 9, 11)
    with torch.no_grad():
        ref = m(x)
        out = m.double()(x.double())
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), ref, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def nhwc_file() -> tuple[torch.nn.Module, bytes]:
    torch.manual_seed(6)
    spec = make_export_spec("fca", channels=16, ratio=4, height=7, width=7, layout="nhwc")
    net = build_model(spec.model)
    res = export_bytes(net, spec)
    assert res.exporter == "dynamo", res.fallback_reason
    return net, res.data


def test_nhwc_file_expands_the_gate_and_matches_eager(nhwc_file) -> None:
    # NHWC files multiply by the gate expanded to [N, 1, W, C] (onnxruntime's faster Mul).
    net, data = nhwc_file
    assert "Expand" in [n.op_type for n in onnx.load_from_string(data).graph.node]
    x = np.random.default_rng(7).standard_normal((2, 7, 7, 16)).astype(np.float32)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        np.testing.assert_allclose(y, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)
