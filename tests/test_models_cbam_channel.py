"""CBAM channel attention (models/cbam_channel.py): a checkpoint whose hidden width is not
``C // ratio`` loads into ``cbam-channel`` with ``hidden=`` and gives the tutorial's output."""

from __future__ import annotations

import torch
import tutorial_reference as tut

from chanattn_export import create_model


def test_hidden_width_given_directly_loads_a_tutorial_checkpoint() -> None:
    torch.manual_seed(5)
    ref = tut.UseAttentionModel(40).eval()
    ref.channel_attention = tut.ChannelAttention(40, ratio=8).eval()  # hidden 5, not 40 // 16
    ours = create_model("cbam-channel", channels=40, hidden=5)  # the default ratio 16 -> 2
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 40, 5, 6)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
