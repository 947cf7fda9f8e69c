"""The wider zoo: each family against a naive reference written from its paper / official code.

References are written here, independently of ``chanattn_export.models``: direct formulas,
adaptive pooling modules, ``torch.std``; every parameter is randomised first so a zero-init
(GCT's gamma, BatchNorm's running stats) cannot hide a wrong formula.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from random_weights import randomize_
from safetensors.torch import save_file

from chanattn_export import InvalidSpecError, create_model, export_onnx
from chanattn_export.api import make_export_spec
from chanattn_export.export import export_bytes
from chanattn_export.registry import build_model, get_model_info, list_models

NEW = ["ese", "ceca", "gc", "ge", "srm", "gct", "fca", "simam", "coord"]


def randomized(name: str, channels: int = 16, **kw) -> torch.nn.Module:
    """The block with every float parameter and buffer drawn at random (variances > 0)."""
    m = create_model(name, channels=channels, **kw)
    return randomize_(m, sum(map(ord, name)), keep=("dct_layer",))


def x_for(c: int = 16, h: int = 6, w: int = 7, n: int = 2) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(c * h + w))


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_registry_lists_at_least_thirteen_families() -> None:
    names = [m.name for m in list_models()]
    assert len(names) >= 13 and set(NEW) <= set(names)


def test_ese_formula() -> None:
    m, x = randomized("ese"), x_for()
    s = x.mean((2, 3))
    g = torch.clamp(s @ m.fc.weight.flatten(1).T + m.fc.bias + 3, 0, 6) / 6
    close(m(x), x * g[:, :, None, None])


@pytest.mark.parametrize("c", [1, 5, 16, 64])
def test_ceca_wraps_around_the_channels(c: int) -> None:
    m, x = randomized("ceca", channels=c), x_for(c)
    k = m.conv.weight.shape[-1]
    assert k == max(3, k) and k % 2 == 1
    s = x.mean((2, 3))
    p = (k - 1) // 2
    wk = m.conv.weight.flatten()
    logits = torch.stack([sum(wk[j] * s[:, (i + j - p) % c] for j in range(k))
                          for i in range(c)], 1)
    close(m(x), x * torch.sigmoid(logits)[:, :, None, None])


def _context(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n, c, h, wd = x.shape
    logits = F.conv2d(x, w, b).reshape(n, h * wd)
    p = torch.softmax(logits, -1)
    return torch.einsum("ncl,nl->nc", x.reshape(n, c, -1), p)


@pytest.mark.parametrize("fuse", ["add", "scale"])
def test_gc_formula(fuse: str) -> None:
    from chanattn_export.models import GlobalContext

    m = GlobalContext(16, ratio=4, fuse=fuse)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.5)
    x = x_for()
    mlp = getattr(m, f"mlp_{fuse}")
    ctx = _context(x, m.conv_attn.weight, m.conv_attn.bias)
    h = F.conv2d(ctx[:, :, None, None], mlp.fc1.weight, mlp.fc1.bias).flatten(1)
    h = (h - h.mean(1, keepdim=True)) / torch.sqrt(h.var(1, unbiased=False, keepdim=True) + 1e-5)
    h = torch.relu(h * mlp.norm.weight + mlp.norm.bias)
    t = F.conv2d(h[:, :, None, None], mlp.fc2.weight, mlp.fc2.bias)
    close(m(x), x + t if fuse == "add" else x * torch.sigmoid(t))


def test_ge_formula_global_and_with_extent() -> None:
    from chanattn_export.models import GatherExcite

    x = x_for(h=9, w=7)
    close(create_model("ge", channels=16)(x), x * torch.sigmoid(x.mean((2, 3), keepdim=True)))
    e = 2  # windows of 3 positions at stride 2, padding not counted
    m = GatherExcite(16, extent=e)
    ref = torch.empty_like(x)
    for i in range(9):
        for j in range(7):
            ci, cj = (i // e) * e, (j // e) * e  # the pooled cell that nearest-upsampling picks
            win = x[:, :, max(ci - 1, 0):ci + 2, max(cj - 1, 0):cj + 2]
            ref[:, :, i, j] = win.mean((2, 3))
    close(m(x), x * torch.sigmoid(ref))


def test_srm_matches_the_official_formula() -> None:
    m, x = randomized("srm"), x_for()
    u = torch.stack([x.flatten(2).mean(-1), x.flatten(2).std(-1)], -1)  # [N, C, 2]
    z = F.conv1d(u, m.cfc.weight, groups=16).squeeze(-1)
    bn = m.bn
    z = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    close(m(x), x * torch.sigmoid(z)[:, :, None, None])


def test_srm_and_simam_are_finite_on_constant_and_single_position_inputs() -> None:
    for name in ("srm", "simam"):
        m = randomized(name)
        for x in (torch.full((2, 16, 5, 5), 123.4567), torch.randn(2, 16, 1, 1)):
            assert torch.isfinite(m(x)).all(), (name, x.shape)


def test_gct_matches_the_official_formula() -> None:
    m, x = randomized("gct"), x_for()
    eps = 1e-5
    emb = (x.pow(2).sum((2, 3), keepdim=True) + eps).pow(0.5) * m.alpha
    norm = m.gamma / (emb.pow(2).mean(dim=1, keepdim=True) + eps).pow(0.5)
    close(m(x), x * (1.0 + torch.tanh(emb * norm + m.beta)))


def test_gct_starts_as_identity() -> None:
    x = x_for()
    close(create_model("gct", channels=16)(x), x)


def test_simam_matches_the_official_formula() -> None:
    m, x = create_model("simam", channels=16), x_for()
    n = x.shape[2] * x.shape[3] - 1
    d = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
    y = d / (4 * (d.sum(dim=[2, 3], keepdim=True) / n + 1e-4)) + 0.5
    close(m(x), x * torch.sigmoid(y))


def _official_dct(c: int) -> torch.Tensor:
    """FcaNet's get_dct_filter for top16 on 7 x 7, written out as in the official code."""
    xs = [0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2]
    ys = [0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2]

    def bf(pos, freq, size):
        r = math.cos(math.pi * freq * (pos + 0.5) / size) / math.sqrt(size)
        return r if freq == 0 else r * math.sqrt(2)

    f = torch.zeros(c, 7, 7)
    part = c // 16
    for i, (u, v) in enumerate(zip(xs, ys, strict=True)):
        for tx in range(7):
            for ty in range(7):
                f[i * part:(i + 1) * part, tx, ty] = bf(tx, u, 7) * bf(ty, v, 7)
    return f


@pytest.mark.parametrize("hw", [(7, 7), (14, 14), (9, 11), (5, 3)])
def test_fca_matches_the_official_code_with_adaptive_pooling(hw: tuple[int, int]) -> None:
    m, x = randomized("fca", channels=32), x_for(32, *hw)
    torch.testing.assert_close(m.dct_layer.weight, _official_dct(32))
    pooled = F.adaptive_avg_pool2d(x, 7) if hw != (7, 7) else x
    y = (pooled * m.dct_layer.weight).sum((2, 3))
    g = torch.sigmoid(torch.relu(y @ m.fc[0].weight.T) @ m.fc[2].weight.T)
    close(m(x), x * g[:, :, None, None])


def test_coord_matches_the_official_code() -> None:
    m, x = randomized("coord", channels=16), x_for(h=5, w=8)
    assert m.conv1.weight.shape[0] == 8  # mip = max(8, C // 32)
    h, w = x.shape[2:]
    x_h = torch.nn.AdaptiveAvgPool2d((None, 1))(x)
    x_w = torch.nn.AdaptiveAvgPool2d((1, None))(x).permute(0, 1, 3, 2)
    y = F.conv2d(torch.cat([x_h, x_w], 2), m.conv1.weight, m.conv1.bias)
    bn = m.bn1
    y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + 1e-5)
    y = y * bn.weight[:, None, None] + bn.bias[:, None, None]
    y = y * F.relu6(y + 3) / 6
    a_h, a_w = torch.split(y, [h, w], dim=2)
    a_h = torch.sigmoid(F.conv2d(a_h, m.conv_h.weight, m.conv_h.bias))
    a_w = torch.sigmoid(F.conv2d(a_w.permute(0, 1, 3, 2), m.conv_w.weight, m.conv_w.bias))
    close(m(x), x * a_w * a_h)


@pytest.mark.parametrize("name", ["gct", "srm", "coord", "gc"])
def test_randomised_weights_export_with_parity(name: str, tmp_path: Path) -> None:
    """Zero-init and BatchNorm defaults make some blocks near-identity at init; parity must
    also hold for trained-looking weights (dynamic H x W, so the second size is checked)."""
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in randomized(name).state_dict().items()}, weights)
    res = export_onnx(name, channels=16, height=6, width=7, dynamic_hw=True, weights=weights,
                      out=tmp_path / "art")
    assert res.passed, res.parity.failures
    assert max(c.max_abs for c in res.parity.checks) > 0 or name == "gct"


def test_fixed_hw_model_refuses_dynamic_hw(tmp_path: Path) -> None:
    assert get_model_info("fca").fixed_hw
    assert not any(get_model_info(n).fixed_hw for n in NEW if n != "fca")
    with pytest.raises(InvalidSpecError, match="tied to the input's H x W"):
        make_export_spec("fca", channels=16, dynamic_hw=True)
    with pytest.raises(InvalidSpecError, match="tied to the input's H x W"):
        export_onnx("fca", channels=16, height=7, width=7, dynamic_hw=True, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    spec = make_export_spec("fca", channels=16, height=7, width=7)
    from dataclasses import replace

    bad = replace(spec, input=replace(spec.input, dynamic_hw=True))
    with pytest.raises(InvalidSpecError):  # a hand-built spec is refused by the exporter too
        export_bytes(build_model(spec.model), bad)


def test_fca_refusal_is_one_line_on_the_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "chanattn_export", "onnx", "--model", "fca",
                        "--channels", "16", "--dynamic-hw", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "H x W" in p.stderr
    assert not (tmp_path / "o").exists()
