"""Plain ``nn.Module`` attention blocks; no export code lives here."""

from .cbam import CBAM, ConvBN, SpatialAttention, fold_for_export
from .cbam_channel import ChannelAttention, UseAttentionModel
from .ceca import CircularECA, ceca_kernel_size
from .coord import CoordinateAttention
from .eca import EfficientChannelAttention, eca_kernel_size
from .ese import EffectiveSE
from .fca import FrequencyChannelAttention
from .gc import GlobalContext
from .gct import GatedChannelTransform
from .ge import GatherExcite
from .se import SqueezeExcite
from .simam import SimAM
from .srm import StyleRecalibration

__all__ = [
    "CBAM",
    "ChannelAttention",
    "CircularECA",
    "ConvBN",
    "CoordinateAttention",
    "EffectiveSE",
    "EfficientChannelAttention",
    "FrequencyChannelAttention",
    "GatedChannelTransform",
    "GatherExcite",
    "GlobalContext",
    "SimAM",
    "SpatialAttention",
    "SqueezeExcite",
    "StyleRecalibration",
    "UseAttentionModel",
    "ceca_kernel_size",
    "eca_kernel_size",
    "fold_for_export",
]
