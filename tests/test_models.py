"""Models: the tutorial's function and checkpoints, layouts, and the paper rules."""

from __future__ import annotations

import pytest
import torch
import tutorial_reference as tut

from chanattn_export import create_model, list_models
from chanattn_export.models import eca_kernel_size
from chanattn_export.registry import get_model_info

MODEL_NAMES = [m.name for m in list_models()]


@pytest.mark.parametrize("channels,ratio", [(64, 16), (40, 16), (30, 4), (8, 8)])
def test_tutorial_checkpoint_loads_strict_and_matches(channels: int, ratio: int) -> None:
    torch.manual_seed(channels + ratio)
    ref = tut.ChannelAttention(channels, ratio).eval()
    ours = create_model("cbam-channel-gate", channels=channels, ratio=ratio)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, channels, 7, 9)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)


def test_tutorial_use_attention_model_checkpoint() -> None:
    torch.manual_seed(1)
    ref = tut.UseAttentionModel(40).eval()  # the tutorial's in_planes=H=40, ratio 16
    ours = create_model("cbam-channel", channels=40, ratio=16)
    assert set(ours.state_dict()) == {"channel_attention.fc1.weight",
                                      "channel_attention.fc2.weight"}
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 40, 5, 6)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_nhwc_is_nchw_on_permuted_data(name: str) -> None:
    """nhwc attends over the real channel axis: same weights, permuted input and output."""
    torch.manual_seed(0)
    nchw = create_model(name, channels=16, layout="nchw")
    nhwc = create_model(name, channels=16, layout="nhwc")
    nhwc.load_state_dict(nchw.state_dict(), strict=True)
    x = torch.randn(2, 16, 6, 7)
    y_nchw = nchw(x)
    y_nhwc = nhwc(x.permute(0, 2, 3, 1).contiguous())
    torch.testing.assert_close(y_nhwc, y_nchw.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape(name: str) -> None:
    model = create_model(name, channels=16)
    y = model(torch.randn(2, 16, 5, 5))
    gate = name == "cbam-channel-gate"
    assert tuple(y.shape) == ((2, 16, 1, 1) if gate else (2, 16, 5, 5))
    if gate:
        assert bool(((y > 0) & (y < 1)).all())


def test_models_are_built_in_eval_mode() -> None:
    assert all(not create_model(n, channels=16).training for n in MODEL_NAMES)


@pytest.mark.parametrize("c,k", [(1, 1), (16, 3), (64, 3), (128, 5), (256, 5), (512, 5),
                                 (1024, 5), (2048, 7)])
def test_eca_kernel_size_follows_the_paper(c: int, k: int) -> None:
    # k = |(log2 C + 1) / 2|_odd, as in the official ECA-Net code
    assert eca_kernel_size(c) == k


def test_eca_has_one_conv_with_kernel_from_channels() -> None:
    m = create_model("eca", channels=256)
    assert tuple(m.state_dict()["conv.weight"].shape) == (1, 1, 5)


def test_se_and_cbam_parameter_names() -> None:
    se = create_model("se", channels=32, ratio=8)
    assert {k: tuple(v.shape) for k, v in se.state_dict().items()} == {
        "fc1.weight": (4, 32, 1, 1), "fc1.bias": (4,),
        "fc2.weight": (32, 4, 1, 1), "fc2.bias": (32,),
    }
    cbam = create_model("cbam", channels=32, ratio=8)
    assert set(cbam.state_dict()) == {"channel.fc1.weight", "channel.fc2.weight",
                                      "spatial.conv.weight"}
    assert tuple(cbam.state_dict()["spatial.conv.weight"].shape) == (1, 2, 7, 7)


def test_se_matches_a_direct_formula() -> None:
    torch.manual_seed(3)
    m = create_model("se", channels=8, ratio=2)
    x = torch.randn(2, 8, 4, 4)
    sd = m.state_dict()
    s = x.mean((2, 3))
    h = torch.relu(s @ sd["fc1.weight"].flatten(1).T + sd["fc1.bias"])
    g = torch.sigmoid(h @ sd["fc2.weight"].flatten(1).T + sd["fc2.bias"])
    torch.testing.assert_close(m(x), x * g[:, :, None, None])


def test_cbam_spatial_matches_a_direct_formula() -> None:
    torch.manual_seed(4)
    m = create_model("cbam", channels=8, ratio=2)
    x = torch.randn(1, 8, 9, 9)
    y1 = x * m.channel(x)
    maps = torch.cat([y1.mean(1, keepdim=True), y1.amax(1, keepdim=True)], 1)
    s = torch.sigmoid(torch.nn.functional.conv2d(maps, m.spatial.conv.weight, padding=3))
    torch.testing.assert_close(m(x), y1 * s)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_nhwc_numbers_equal_nchw_when_every_axis_has_the_same_size(name: str) -> None:
    """C == H == W: pooling or gating over the wrong axes cannot crash on a shape, so only the
    numbers can tell. Same weights, permuted input, permuted output."""
    torch.manual_seed(5)
    ratio = 2 if get_model_info(name).uses_ratio else None  # 4 hidden units: ReLU keeps some
    nchw = create_model(name, channels=8, ratio=ratio, layout="nchw")
    nhwc = create_model(name, channels=8, ratio=ratio, layout="nhwc")
    nhwc.load_state_dict(nchw.state_dict(), strict=True)
    # Each of C, H and W gets its own trend, so pooling over any wrong pair of axes differs.
    ramp = torch.linspace(-2.0, 2.0, 8)
    x = torch.randn(2, 8, 8, 8) + ramp[:, None, None] - 2 * ramp[None, :, None] \
        + ramp.flip(0)[None, None, :] ** 2
    with torch.no_grad():
        y_nchw = nchw(x)
        y_nhwc = nhwc(x.permute(0, 2, 3, 1).contiguous())
    assert y_nhwc.shape == y_nchw.permute(0, 2, 3, 1).shape
    torch.testing.assert_close(y_nhwc, y_nchw.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-6)


def test_classes_default_to_ratio_16_and_pass_ratio_and_kernel_on() -> None:
    from chanattn_export.models import (
        CBAM,
        ChannelAttention,
        SpatialAttention,
        SqueezeExcite,
        UseAttentionModel,
    )

    assert ChannelAttention(64).fc1.weight.shape == (4, 64, 1, 1)
    assert SqueezeExcite(64).fc1.weight.shape == (4, 64, 1, 1)
    assert UseAttentionModel(64).channel_attention.fc1.weight.shape == (4, 64, 1, 1)
    assert UseAttentionModel(64, ratio=8).channel_attention.fc1.weight.shape == (8, 64, 1, 1)
    assert CBAM(64).channel.fc1.weight.shape == (4, 64, 1, 1)
    assert CBAM(64, ratio=8).channel.fc1.weight.shape == (8, 64, 1, 1)
    assert CBAM(16, kernel_size=3).spatial.conv.weight.shape == (1, 2, 3, 3)
    assert SpatialAttention().conv.weight.shape == (1, 2, 7, 7)


def test_eca_kernel_follows_b_and_has_no_bias() -> None:
    from chanattn_export.models import EfficientChannelAttention

    assert EfficientChannelAttention(64).conv.kernel_size == (3,)  # (6 + 1) / 2 -> 3
    assert EfficientChannelAttention(64, b=2).conv.kernel_size == (5,)  # (6 + 2) / 2 -> 5
    assert set(EfficientChannelAttention(64).state_dict()) == {"conv.weight"}


def test_eca_matches_a_direct_formula() -> None:
    torch.manual_seed(6)
    m = create_model("eca", channels=16)
    x = torch.randn(2, 16, 3, 5)
    w = m.state_dict()["conv.weight"]
    k = w.shape[-1]
    g = torch.sigmoid(torch.nn.functional.conv1d(x.mean((2, 3))[:, None], w, padding=k // 2))
    torch.testing.assert_close(m(x), x * g[:, 0, :, None, None])
