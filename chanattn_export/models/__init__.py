"""Plain ``nn.Module`` attention blocks; no export code lives here."""

from .cbam import CBAM, SpatialAttention
from .cbam_channel import ChannelAttention, UseAttentionModel
from .eca import EfficientChannelAttention, eca_kernel_size
from .se import SqueezeExcite

__all__ = [
    "CBAM",
    "ChannelAttention",
    "EfficientChannelAttention",
    "SpatialAttention",
    "SqueezeExcite",
    "UseAttentionModel",
    "eca_kernel_size",
]
