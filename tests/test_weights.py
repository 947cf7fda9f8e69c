"""Weights: safetensors or weights-only torch files; clear errors; no unpickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import tutorial_reference as tut
from safetensors.torch import save_file

from chanattn_export import WeightsError
from chanattn_export.registry import build_model, make_spec


def _spec(name: str = "cbam-channel", channels: int = 40, ratio: int | None = 16):
    return make_spec(name, channels, ratio)


def test_torch_save_of_tutorial_model_loads(tmp_path: Path) -> None:
    torch.manual_seed(5)
    ref = tut.UseAttentionModel(40).eval()
    path = tmp_path / "tutorial.pth"
    torch.save(ref.state_dict(), path)
    net = build_model(_spec(), path)
    x = torch.randn(2, 40, 6, 6)
    torch.testing.assert_close(net(x), ref(x), rtol=1e-5, atol=1e-6)


def test_wrapped_checkpoint_is_unwrapped(tmp_path: Path) -> None:
    ref = tut.UseAttentionModel(40)
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": ref.state_dict(), "epoch": 3}, path)
    net = build_model(_spec(), path)
    torch.testing.assert_close(net.state_dict()["channel_attention.fc1.weight"],
                               ref.state_dict()["channel_attention.fc1.weight"])


def test_safetensors_loads(tmp_path: Path) -> None:
    ref = tut.ChannelAttention(40)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    net = build_model(_spec("cbam-channel-gate"), path)
    torch.testing.assert_close(net.fc2.weight, ref.fc2.weight)


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, b, c = (build_model(_spec(), seed=s).state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["channel_attention.fc1.weight"], c["channel_attention.fc1.weight"])


def test_seeded_build_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(_spec(), seed=7)
    torch.testing.assert_close(torch.rand(3), expected)


def test_mismatch_lists_missing_unexpected_and_wrong_shapes(tmp_path: Path) -> None:
    state = {
        "channel_attention.fc1.weight": torch.zeros(3, 40, 1, 1),  # model has [2, 40, 1, 1]
        "channel_attention.extra": torch.zeros(1),
    }  # fc2 missing
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(WeightsError) as exc:
        build_model(_spec(), path)
    assert str(exc.value) == (
        f"weights in {path} do not match the model: "
        "missing keys: channel_attention.fc2.weight; "
        "unexpected keys: channel_attention.extra; "
        "wrong shapes: channel_attention.fc1.weight (model [2, 40, 1, 1], file [3, 40, 1, 1])"
    )


def test_tutorial_checkpoint_with_other_channels_names_the_shapes(tmp_path: Path) -> None:
    path = tmp_path / "t.pth"
    torch.save(tut.UseAttentionModel(40).state_dict(), path)
    with pytest.raises(WeightsError, match=r"wrong shapes: channel_attention.fc1.weight "
                       r"\(model \[4, 64, 1, 1\], file \[2, 40, 1, 1\]\)"):
        build_model(make_spec("cbam-channel", 64, 16), path)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"fc1.weight": torch.zeros(1), "x": _Evil()}, path)
    with pytest.raises(WeightsError, match="weights-only"):
        build_model(_spec("cbam-channel-gate"), path)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_raw_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raw.pkl"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(WeightsError):
        build_model(_spec("cbam-channel-gate"), path)


@pytest.mark.parametrize("content", [b"", b"not a weights file at all", b"PK\x03\x04broken"])
def test_garbage_file_is_a_weights_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=str(path)):
        build_model(_spec(), path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weights file not found"):
        build_model(_spec(), tmp_path / "nope.pt")
