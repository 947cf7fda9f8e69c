"""Global context block (Cao et al., "GCNet", ICCV Workshops 2019 / TPAMI 2020).

Context modelling: a 1x1 conv gives one logit per position, softmax over H x W, and the
softmax-weighted sum of ``x`` is the per-channel context. Transform: 1x1 conv -> LayerNorm ->
ReLU -> 1x1 conv (bottleneck ``C // ratio``). Fusion as in the paper's final model: the result
is *added* to every position (``fuse="add"``, LayerNorm eps 1e-5 as in the official mmcv
``ContextBlock``). The default ratio is 4, the official repository's ``r4`` configurations
(the paper also reports ``r16``: ``--ratio 16``). A bottleneck of width 1 makes the block
ignore its input (LayerNorm over one value is constant), so keep ``C // ratio >= 2``.
``fuse="scale"`` multiplies by a sigmoid gate instead (timm's ``GlobalContext`` default).
Parameter names follow timm (``conv_attn``, ``mlp_add`` / ``mlp_scale`` with ``fc1``, ``norm``,
``fc2``), so timm state dicts load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import Layout
from ._pool import CONTEXT_MATMUL, add_gate, apply_gate, as_gate, note, wanted


class ContextMlp(nn.Module):
    """timm's ``ConvMlp`` with ``LayerNorm2d``, evaluated on ``[N, C]`` vectors."""

    def __init__(self, channels: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm(F.linear(v, self.fc1.weight.flatten(1), self.fc1.bias)))
        return F.linear(h, self.fc2.weight.flatten(1), self.fc2.bias)


class GlobalContext(nn.Module):
    def __init__(self, channels: int, *, ratio: int = 4, layout: Layout = Layout.NCHW,
                 hidden: int | None = None, fuse: str = "add", eps: float = 1e-5) -> None:
        super().__init__()
        if fuse not in ("add", "scale"):
            raise ValueError(f"fuse must be 'add' or 'scale'; got {fuse!r}")
        self.layout = Layout(layout)
        self.fuse = fuse
        self.conv_attn = nn.Conv2d(channels, 1, 1, bias=True)
        mlp = ContextMlp(channels, channels // ratio if hidden is None else hidden, eps)
        setattr(self, f"mlp_{fuse}", mlp)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C]``: the attention-pooled feature vector.

        Products and sums rather than ``matmul``: torch picks a different GEMM path for a 1-D
        ``matmul`` depending on ``requires_grad``, so a frozen TorchScript copy would not be
        bit-exact with the eager model. The ONNX export takes the MatMuls: onnxruntime then
        reads x once per product instead of writing and re-reading a full-size product
        (benchmarks/NOTES.md); float32 sums in another order, within the parity tolerances.
        """
        w, b = self.conv_attn.weight.flatten(), self.conv_attn.bias
        if wanted(CONTEXT_MATMUL):
            note(CONTEXT_MATMUL)
            return self._context_matmul(x, w, b)
        if self.layout is Layout.NHWC:
            xf = x.flatten(1, 2)  # [N, L, C]
            attn = torch.softmax((xf * w).sum(2) + b, dim=1)  # [N, L]
            return (xf * attn[:, :, None]).sum(1)
        xf = x.flatten(2)  # [N, C, L]
        attn = torch.softmax((xf * w[:, None]).sum(1) + b, dim=1)
        return (xf * attn[:, None]).sum(2)

    def _context_matmul(self, x: torch.Tensor, w: torch.Tensor,
                        b: torch.Tensor) -> torch.Tensor:
        """:meth:`context` as two MatMuls over the flattened map (export only)."""
        # w as a [C, 1] column / [1, C] row: a 1-D operand made onnxruntime's MatMul a
        # batched matrix-vector product 10x slower than the Mul + ReduceSum it replaces.
        if self.layout is Layout.NHWC:
            xf = x.flatten(1, 2)  # [N, L, C]
            attn = torch.softmax(torch.matmul(xf, w[:, None]).squeeze(2) + b, dim=1)  # [N, L]
            return torch.matmul(attn.unsqueeze(1), xf).squeeze(1)
        xf = x.flatten(2)  # [N, C, L]
        attn = torch.softmax(torch.matmul(w[None, :], xf).squeeze(1) + b, dim=1)  # [N, L]
        return torch.matmul(xf, attn.unsqueeze(2)).squeeze(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctx = self.context(x)
        if self.fuse == "scale":
            return apply_gate(x, as_gate(torch.sigmoid(self.mlp_scale(ctx)), self.layout),
                              self.layout)
        return add_gate(x, as_gate(self.mlp_add(ctx), self.layout), self.layout)
