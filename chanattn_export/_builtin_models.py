"""The built-in attention families, registered when the registry is first used."""

from __future__ import annotations

from .models import (
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
from .models import timm_presets as timm
from .registry import Preset, register

register("cbam-channel-gate", ChannelAttention,
         "tutorial ChannelAttention: the [N, C, 1, 1] sigmoid gate", output="gate",
         hidden_keys=("fc1.weight",))
register("cbam-channel", UseAttentionModel,
         "tutorial UseAttentionModel: x * channel-attention gate",
         hidden_keys=("channel_attention.fc1.weight",))
register("se", SqueezeExcite,
         "Squeeze-and-Excitation (Hu et al. 2018): x * sigmoid(MLP(avgpool(x)))",
         presets={"timm": Preset(timm.se, 16)}, hidden_keys=("fc1.weight",))
register("eca", EfficientChannelAttention,
         "ECA-Net (Wang et al. 2020): 1-D conv across channels, k from C", uses_ratio=False,
         presets={"timm": Preset(timm.eca)})
register("cbam", CBAM,
         "CBAM (Woo et al. 2018): channel attention then 7x7 spatial attention",
         presets={"timm": Preset(timm.cbam, 16)}, hidden_keys=("channel.fc1.weight",))
register("ese", EffectiveSE,
         "effective SE (Lee & Park 2020): one CxC FC, hard-sigmoid gate", uses_ratio=False,
         presets={"timm": Preset(timm.ese)})
register("ceca", CircularECA,
         "circular ECA (timm): ECA with the channel conv wrapping around", uses_ratio=False,
         presets={"timm": Preset(timm.eca)})
register("gc", GlobalContext,
         "global context (Cao et al. 2019): softmax-pooled context, added", default_ratio=4,
         presets={"timm": Preset(timm.gc, 8)},
         hidden_keys=("mlp_add.fc1.weight", "mlp_scale.fc1.weight"))
register("ge", GatherExcite,
         "gather-excite (Hu et al. 2018), parameter-free: sigmoid(avgpool(x))",
         uses_ratio=False)
register("srm", StyleRecalibration,
         "style recalibration (Lee et al. 2019): mean and std -> channel FC", uses_ratio=False)
register("gct", GatedChannelTransform,
         "gated channel transformation (Yang et al. 2020): l2 norm, 1 + tanh",
         uses_ratio=False)
register("fca", FrequencyChannelAttention,
         "FcaNet (Qin et al. 2021): 2-D DCT squeeze; weights tied to H x W", fixed_hw=True,
         hidden_keys=("fc.0.weight",))
register("simam", SimAM,
         "SimAM (Yang et al. 2021), parameter-free: per-neuron energy gate", uses_ratio=False)
register("coord", CoordinateAttention,
         "coordinate attention (Hou et al. 2021): H and W pooled separately", default_ratio=32,
         hidden_keys=("conv1.weight",))
