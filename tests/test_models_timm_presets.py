"""``preset="timm"`` widths and kernel sizes against timm 1.0.31's published definitions, at the
channel counts where a rounding rule decides (the fixtures in tests/test_timm.py only cover a
few widths where most of the rules agree)."""

from __future__ import annotations

import pytest

from chanattn_export import create_model
from chanattn_export.models.timm_presets import make_divisible


@pytest.mark.parametrize(("base", "width"), [
    # EfficientNet-B3 (width multiplier 1.2): timm's round_channels is make_divisible(c * 1.2)
    # with the defaults (divisor 8, round_limit 0.9); these are B3's published stage widths.
    (32, 40), (16, 24), (24, 32), (40, 48), (80, 96), (112, 136), (192, 232), (320, 384),
    (1280, 1536),
])
def test_make_divisible_defaults_give_efficientnet_b3_widths(base: int, width: int) -> None:
    # 16 * 1.2 = 19.2 rounds to 16, a drop of more than 10%, so timm adds a divisor: 24.
    assert make_divisible(base * 1.2) == width


def test_make_divisible_round_limit_is_a_strict_bound() -> None:
    # 4 -> 3 with divisor 3 keeps exactly 75%: allowed at round_limit 0.75 (timm's `<`), and
    # bumped to 6 only when the limit asks for more.
    assert make_divisible(4, 3, round_limit=0.75) == 3
    assert make_divisible(4, 3, round_limit=0.8) == 6


@pytest.mark.parametrize(("channels", "ratio", "hidden"), [
    # SEModule: make_divisible(C / ratio, 8, round_limit=0.) -- rounds to nearest, never bumped.
    (176, 16, 8),  # 11 -> 8 (a default round_limit of 0.9 would give 16)
    (192, 16, 16),  # 12 -> 16
    (256, 8, 32),  # an explicit ratio is used, not timm's default 16
    (64, 4, 16),
])
def test_se_hidden_width_is_timms(channels: int, ratio: int, hidden: int) -> None:
    m = create_model("se", channels=channels, ratio=ratio, preset="timm")
    assert m.fc1.weight.shape == (hidden, channels, 1, 1)
    assert m.fc2.weight.shape == (channels, hidden, 1, 1)


@pytest.mark.parametrize(("channels", "ratio", "hidden"), [
    # CbamModule's ChannelAttn: make_divisible(C / ratio, 1, round_limit=0.)
    (48, 16, 3),  # odd: divisor 1, not 2 or 8
    (176, 16, 11),
    (32, 8, 4),  # an explicit ratio is used
])
def test_cbam_hidden_width_is_timms(channels: int, ratio: int, hidden: int) -> None:
    m = create_model("cbam", channels=channels, ratio=ratio, preset="timm")
    assert m.channel.fc1.weight.shape == (hidden, channels, 1, 1)


@pytest.mark.parametrize(("channels", "k"), [
    # EcaModule: t = int(|log2(C) + 1| / 2), odd (t + 1 when even), at least 3.
    (4, 3), (16, 3), (64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7), (8192, 7),
])
@pytest.mark.parametrize("name", ["eca", "ceca"])
def test_eca_kernel_size_is_timms(name: str, channels: int, k: int) -> None:
    m = create_model(name, channels=channels, preset="timm")
    assert m.conv.weight.shape[-1] == k
