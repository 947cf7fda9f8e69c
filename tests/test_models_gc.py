"""Global context block: the published defaults, the error for a bad ``fuse``, LayerNorm's
epsilon per preset, and the NHWC ONNX form of the ``scale`` fusion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from nhwc_graph import check_nhwc_export

from chanattn_export import create_model
from chanattn_export.models import GlobalContext


def test_default_bottleneck_is_the_official_r4() -> None:
    for m in (GlobalContext(16), create_model("gc", channels=16)):
        assert m.mlp_add.fc1.weight.shape == (4, 16, 1, 1)


def test_unknown_fuse_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"fuse must be 'add' or 'scale'; got 'mul'"):
        GlobalContext(16, fuse="mul")


def _reference(m: GlobalContext, x: torch.Tensor, fuse: str, eps: float) -> torch.Tensor:
    """GCNet / timm GlobalContext written out, with LayerNorm's epsilon given explicitly."""
    n, c = x.shape[:2]
    p = torch.softmax(F.conv2d(x, m.conv_attn.weight, m.conv_attn.bias).reshape(n, -1), -1)
    ctx = torch.einsum("ncl,nl->nc", x.reshape(n, c, -1), p)
    mlp = getattr(m, f"mlp_{fuse}")
    t = F.conv2d(ctx[:, :, None, None], mlp.fc1.weight, mlp.fc1.bias).flatten(1)
    t = (t - t.mean(1, keepdim=True)) / torch.sqrt(t.var(1, unbiased=False, keepdim=True) + eps)
    t = torch.relu(t * mlp.norm.weight + mlp.norm.bias)
    t = F.conv2d(t[:, :, None, None], mlp.fc2.weight, mlp.fc2.bias)
    return x + t if fuse == "add" else x * torch.sigmoid(t)


@pytest.mark.parametrize(("preset", "fuse", "eps"), [("default", "add", 1e-5),
                                                     ("timm", "scale", 1e-6)])
def test_layernorm_epsilon_follows_the_preset(preset: str, fuse: str, eps: float) -> None:
    """mmcv's ContextBlock uses 1e-5, timm's GlobalContext (LayerNorm2d) 1e-6. A bottleneck
    whose values vary by ~1e-3 makes the difference visible."""
    m = create_model("gc", channels=16, preset=preset)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        mlp = getattr(m, f"mlp_{fuse}")
        mlp.fc1.weight.mul_(1e-3)
        mlp.fc1.bias.mul_(1e-3)
    x = torch.randn(2, 16, 5, 5, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(m(x), _reference(m, x, fuse, eps), rtol=1e-4, atol=1e-5)


def test_nhwc_onnx_spreads_the_scale_gate_over_w() -> None:
    net = create_model("gc", channels=16, layout="nhwc", preset="timm")
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    check_nhwc_export("gc", net, channels=16, preset="timm")
