"""Replace the attention blocks of a user's network with this toolkit's export-friendly ones.

:func:`swap_attention` walks any ``nn.Module`` and, for each module it recognises (the
tutorial's ``ChannelAttention`` / ``UseAttentionModel``, timm's ``SEModule``,
``EffectiveSEModule``, ``EcaModule``, ``CecaModule``, ``CbamModule``, ``GlobalContext``,
torchvision's ``SqueezeExcitation``), builds our equivalent, loads the same weights with
``strict=True`` and checks parity on the hard input cases (eager vs eager, at the shape the
module sees). Only a replacement that passes is kept; the report says what happened to each.
Recognition is by class name and attributes, so neither timm nor torchvision is imported.
Why: ``AdaptiveMaxPool2d`` in the tutorial's block fails or freezes H x W in torch.onnx, and the
1x1 convs on ``[N, C, 1, 1]`` tensors are slow; ours pool with ``mean``/``amax``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..spec import InputSpec, ModelSpec, Tolerance


@dataclass(frozen=True)
class Swap:
    """What happened to one recognised module."""

    path: str  # dotted name in the network ("" for the network itself)
    original: str  # class name
    replacement: str | None  # our class name, None when kept
    passed: bool  # parity held on every case (False: the original was kept)
    needed_atol: float  # the worst case's smallest passing atol (inf when not checked)
    reason: str = ""  # why the original was kept


@dataclass(frozen=True)
class SwapReport:
    swaps: tuple[Swap, ...]

    @property
    def replaced(self) -> list[Swap]:
        return [s for s in self.swaps if s.replacement is not None]

    @property
    def kept(self) -> list[Swap]:
        return [s for s in self.swaps if s.replacement is None]

    def to_dict(self) -> dict[str, Any]:
        return {"swaps": [s.__dict__ for s in self.swaps]}


def _conv_c(conv: nn.Module) -> int:
    return int(conv.in_channels)  # type: ignore[arg-type]


def _tutorial_gate(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import ChannelAttention

    return ChannelAttention(_conv_c(m.fc1), hidden=m.fc1.out_channels)


def _tutorial_applied(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import UseAttentionModel

    fc1 = m.channel_attention.fc1
    return UseAttentionModel(_conv_c(fc1), hidden=fc1.out_channels)


def _se(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import SqueezeExcite

    return SqueezeExcite(_conv_c(m.fc1), hidden=m.fc1.out_channels)


def _ese(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import EffectiveSE

    return EffectiveSE(_conv_c(m.fc))


def _need_c(c: int | None) -> int:
    if c is None:
        raise ValueError("its channel count is not in its weights: pass example= to "
                         "swap_attention so the module is seen running")
    return c


def _eca(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import EfficientChannelAttention

    return EfficientChannelAttention(_need_c(c), kernel_size=m.conv.kernel_size[0])


def _ceca(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import CircularECA

    return CircularECA(_need_c(c), kernel_size=m.conv.kernel_size[0])


def _cbam(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import CBAM

    fc1, conv = m.channel.fc1, m.spatial.conv
    norm = hasattr(conv, "bn") and isinstance(getattr(conv, "bn", None), nn.BatchNorm2d)
    k = (conv.conv if norm else conv).kernel_size[0]
    return CBAM(_conv_c(fc1), hidden=fc1.out_channels, kernel_size=k, spatial_norm=norm)


def _gc(m: nn.Module, c: int | None) -> nn.Module:
    from ..models import GlobalContext

    add, scale = getattr(m, "mlp_add", None), getattr(m, "mlp_scale", None)
    if (add is None) == (scale is None) or getattr(m, "conv_attn", None) is None:
        raise ValueError("only one of fuse_add / fuse_scale with attention pooling is supported")
    mlp = add if add is not None else scale
    return GlobalContext(_conv_c(m.conv_attn), hidden=mlp.fc1.out_channels,
                         fuse="add" if add is not None else "scale", eps=mlp.norm.eps)


# class name -> (attributes it must have, builder of our equivalent)
KNOWN: dict[str, tuple[tuple[str, ...], Callable[[nn.Module, int | None], nn.Module]]] = {
    "ChannelAttention": (("fc1", "fc2"), _tutorial_gate),
    "UseAttentionModel": (("channel_attention",), _tutorial_applied),
    "SEModule": (("fc1", "fc2"), _se),
    "SqueezeExcitation": (("fc1", "fc2"), _se),
    "EffectiveSEModule": (("fc",), _ese),
    "EcaModule": (("conv",), _eca),
    "CecaModule": (("conv",), _ceca),
    "CbamModule": (("channel", "spatial"), _cbam),
    "GlobalContext": (("conv_attn",), _gc),
}


def _recognised(m: nn.Module) -> bool:
    entry = KNOWN.get(type(m).__name__)
    return entry is not None and all(hasattr(m, a) for a in entry[0])


def attention_paths(net: nn.Module) -> list[str]:
    """Dotted names of the outermost modules :func:`swap_attention` would try to replace."""
    found: list[str] = []
    for path, m in net.named_modules():
        if _recognised(m) and not any(path.startswith(f"{p}.") or not p for p in found):
            found.append(path)
    return found


def _input_shapes(net: nn.Module, example: torch.Tensor | None) -> dict[int, tuple[int, ...]]:
    """id(module) -> the shape of its first input, from one forward pass of ``example``."""
    if example is None:
        return {}
    shapes: dict[int, tuple[int, ...]] = {}

    def record(mod: nn.Module, args: tuple[Any, ...]) -> None:  # None: inputs unchanged
        shapes.setdefault(id(mod), tuple(args[0].shape))

    hooks = [m.register_forward_pre_hook(record) for m in net.modules() if _recognised(m)]
    try:
        with torch.no_grad():
            net(example)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _parity(original: nn.Module, ours: nn.Module, c: int, hw: tuple[int, int],
            tolerance: Tolerance, seed: int) -> tuple[bool, float]:
    from ..check.cases import make_cases
    from ..check.parity import compare, input_scale, judge

    cases = make_cases(ModelSpec("swap", c, None), InputSpec(batch=2, height=hw[0], width=hw[1]),
                       seed)
    diffs = []
    with torch.no_grad():
        for case in cases:
            x = torch.from_numpy(case.x)
            diffs.append(compare("swap", case.name, original(x).numpy(), ours(x).numpy(),
                                 input_scale(case.x)))
    report = judge(diffs, tolerance, seed)
    return report.passed, max(ch.needed_atol for ch in report.checks)


def swap_attention(net: nn.Module, example: torch.Tensor | None = None, *,
                   tolerance: Tolerance | None = None, hw: tuple[int, int] = (7, 9),
                   seed: int = 0) -> tuple[nn.Module, SwapReport]:
    """A copy of ``net`` (eval mode) with every recognised attention module replaced by ours,
    carrying the same weights, where parity holds; and the report. ``net`` is not changed.

    ``example`` (an NCHW input of ``net``) lets parity run at the H x W each module really
    sees, and gives ECA-style modules their channel count; without it, ``hw`` is used.
    """
    tol = tolerance or Tolerance()
    new = copy.deepcopy(net).eval()
    shapes = _input_shapes(new, example)
    swaps: list[Swap] = []

    def visit(parent: nn.Module, prefix: str) -> None:
        for name, child in list(parent.named_children()):
            path = f"{prefix}{name}"
            if _recognised(child):
                replacement, swap = _replace(child, path, shapes.get(id(child)), tol, hw, seed)
                swaps.append(swap)
                if replacement is not None:
                    setattr(parent, name, replacement)
                    continue
            visit(child, path + ".")

    if _recognised(new):
        replacement, swap = _replace(new, "", shapes.get(id(new)), tol, hw, seed)
        swaps.append(swap)
        if replacement is not None:
            return replacement, SwapReport((swap,))
    visit(new, "")
    return new, SwapReport(tuple(swaps))


def _replace(m: nn.Module, path: str, shape: tuple[int, ...] | None, tol: Tolerance,
             hw: tuple[int, int], seed: int) -> tuple[nn.Module | None, Swap]:
    cls = type(m).__name__
    c = shape[1] if shape is not None and len(shape) == 4 else None
    try:
        ours = KNOWN[cls][1](m, c).eval()
        ours.load_state_dict(m.state_dict(), strict=True)
    except Exception as e:  # unsupported options show up as build or load errors
        return None, Swap(path, cls, None, False, float("inf"), f"not replaced: {e}")
    size = (shape[2], shape[3]) if shape is not None and len(shape) == 4 else hw
    channels = c if c is not None else next(
        int(k.in_channels) for k in ours.modules() if isinstance(k, nn.Conv2d))
    passed, needed = _parity(m.eval(), ours, channels, size, tol, seed)
    if not passed:
        return None, Swap(path, cls, None, False, needed,
                          f"parity failed (needs atol {needed:.1e}); original kept")
    return ours, Swap(path, cls, type(ours).__name__, True, needed)
