"""The built-in attention families, registered when the registry is first used."""

from __future__ import annotations

from .models import (
         CBAM,
         ChannelAttention,
         EfficientChannelAttention,
         SqueezeExcite,
         UseAttentionModel,
)
from .registry import register

register("cbam-channel-gate", ChannelAttention,
         "tutorial ChannelAttention: the [N, C, 1, 1] sigmoid gate", output="gate")
register("cbam-channel", UseAttentionModel,
         "tutorial UseAttentionModel: x * channel-attention gate")
register("se", SqueezeExcite,
         "Squeeze-and-Excitation (Hu et al. 2018): x * sigmoid(MLP(avgpool(x)))")
register("eca", EfficientChannelAttention,
         "ECA-Net (Wang et al. 2020): 1-D conv across channels, k from C", uses_ratio=False)
register("cbam", CBAM,
         "CBAM (Woo et al. 2018): channel attention then 7x7 spatial attention")
