"""The built-in attention families: what the registry registers on first use.

Plain data (the registry's ``register`` arguments), so this module imports nothing of the
registry: presets are ``(kwargs_function, default_ratio)`` pairs the registry wraps.
"""

from __future__ import annotations

from typing import Any

from . import (
         CBAM,
         ChannelAttention,
         CircularECA,
         CoordinateAttention,
         EffectiveSE,
         EfficientChannelAttention,
         FrequencyChannelAttention,
         GatedChannelTransform,
         GatherExcite,
         GlobalContext,
         SimAM,
         SqueezeExcite,
         StyleRecalibration,
         UseAttentionModel,
)
from . import timm_presets as timm

BUILTIN: list[tuple[tuple[Any, ...], dict[str, Any]]] = []


def _add(*args: Any, **kwargs: Any) -> None:
    BUILTIN.append((args, kwargs))


_add("cbam-channel-gate", ChannelAttention,
     "tutorial ChannelAttention: the [N, C, 1, 1] sigmoid gate", output="gate",
     hidden_keys=("fc1.weight",))
_add("cbam-channel", UseAttentionModel,
     "tutorial UseAttentionModel: x * channel-attention gate",
     hidden_keys=("channel_attention.fc1.weight",))
_add("se", SqueezeExcite,
     "Squeeze-and-Excitation (Hu et al. 2018): x * sigmoid(MLP(avgpool(x)))",
     presets={"timm": (timm.se, 16)}, hidden_keys=("fc1.weight",))
_add("eca", EfficientChannelAttention,
     "ECA-Net (Wang et al. 2020): 1-D conv across channels, k from C", uses_ratio=False,
     presets={"timm": (timm.eca, None)})
_add("cbam", CBAM,
     "CBAM (Woo et al. 2018): channel attention then 7x7 spatial attention",
     presets={"timm": (timm.cbam, 16)}, hidden_keys=("channel.fc1.weight",))
_add("ese", EffectiveSE,
     "effective SE (Lee & Park 2020): one CxC FC, hard-sigmoid gate", uses_ratio=False,
     presets={"timm": (timm.ese, None)})
_add("ceca", CircularECA,
     "circular ECA (timm): ECA with the channel conv wrapping around", uses_ratio=False,
     presets={"timm": (timm.eca, None)})
_add("gc", GlobalContext,
     "global context (Cao et al. 2019): softmax-pooled context, added", default_ratio=4,
     presets={"timm": (timm.gc, 8)},
     hidden_keys=("mlp_add.fc1.weight", "mlp_scale.fc1.weight"))
_add("ge", GatherExcite,
     "gather-excite (Hu et al. 2018), parameter-free: sigmoid(avgpool(x))",
     uses_ratio=False)
_add("srm", StyleRecalibration,
     "style recalibration (Lee et al. 2019): mean and std -> channel FC", uses_ratio=False)
_add("gct", GatedChannelTransform,
     "gated channel transformation (Yang et al. 2020): l2 norm, 1 + tanh",
     uses_ratio=False)
_add("fca", FrequencyChannelAttention,
     "FcaNet (Qin et al. 2021): 2-D DCT squeeze; weights tied to H x W", fixed_hw=True,
     hidden_keys=("fc.0.weight",))
_add("simam", SimAM,
     "SimAM (Yang et al. 2021), parameter-free: per-neuron energy gate", uses_ratio=False)
_add("coord", CoordinateAttention,
     "coordinate attention (Hou et al. 2021): H and W pooled separately", default_ratio=32,
     hidden_keys=("conv1.weight",))
