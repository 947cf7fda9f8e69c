"""Registrations of the built-in attention families (imported lazily by the registry)."""

from __future__ import annotations

from torch import nn

from .models import (
    CBAM,
    ChannelAttention,
    EfficientChannelAttention,
    SqueezeExcite,
    UseAttentionModel,
)
from .registry import register
from .spec import ModelSpec


@register("cbam-channel-gate", "tutorial ChannelAttention: the [N, C, 1, 1] sigmoid gate",
          output="gate")
def _cbam_channel_gate(spec: ModelSpec) -> nn.Module:
    return ChannelAttention(spec.channels, spec.ratio, spec.layout)


@register("cbam-channel", "tutorial UseAttentionModel: x * channel-attention gate")
def _cbam_channel(spec: ModelSpec) -> nn.Module:
    return UseAttentionModel(spec.channels, spec.ratio, spec.layout)


@register("se", "Squeeze-and-Excitation (Hu et al. 2018): x * sigmoid(MLP(avgpool(x)))")
def _se(spec: ModelSpec) -> nn.Module:
    return SqueezeExcite(spec.channels, spec.ratio, spec.layout)


@register("eca", "ECA-Net (Wang et al. 2020): 1-D conv across channels, k from C",
          uses_ratio=False)
def _eca(spec: ModelSpec) -> nn.Module:
    return EfficientChannelAttention(spec.channels, spec.layout)


@register("cbam", "CBAM (Woo et al. 2018): channel attention then 7x7 spatial attention")
def _cbam(spec: ModelSpec) -> nn.Module:
    return CBAM(spec.channels, spec.ratio, spec.layout)
