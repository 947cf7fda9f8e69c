"""Weights: safetensors or weights-only torch files; clear errors; no unpickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import tutorial_reference as tut
from safetensors.torch import save_file

from chanattn_export import WeightsError
from chanattn_export.models.weights import (
    apply_state_dict,
    load_safetensors_bytes,
    read_state_dict,
    state_dict_bytes,
)
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


# -- exact rules and messages (tests/test_weights.py covers the user paths above) -------------


def _gate(channels: int = 8, ratio: int = 2) -> torch.nn.Module:
    return build_model(make_spec("cbam-channel-gate", channels, ratio))


def test_other_float_dtypes_are_converted_to_the_models() -> None:
    net = _gate()
    state = {k: v.double() * 2 for k, v in net.state_dict().items()}
    apply_state_dict(net, state)
    assert all(v.dtype == torch.float32 for v in net.state_dict().values())
    torch.testing.assert_close(net.fc1.weight, state["fc1.weight"].float())


def test_every_problem_is_listed_in_one_message() -> None:
    net = _gate()
    state = dict(net.state_dict())
    state.pop("fc1.weight")
    state["fc2.weight"] = state["fc2.weight"][:4]
    state["extra.a"] = state["extra.b"] = torch.zeros(1)
    with pytest.raises(WeightsError) as e:
        apply_state_dict(net, state)
    assert str(e.value) == (
        "weights do not match the model: missing keys: fc1.weight; "
        "unexpected keys: extra.a, extra.b; "
        "wrong shapes: fc2.weight (model [8, 4, 1, 1], file [4, 4, 1, 1])")
    with pytest.raises(WeightsError) as e:
        apply_state_dict(net, {}, "ref")
    assert str(e.value) == "ref do not match the model: missing keys: fc1.weight, fc2.weight"


def test_integer_tensors_are_refused() -> None:
    net = _gate()
    state = {k: v.to(torch.int32) for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError) as e:
        apply_state_dict(net, state, "w.pt")
    assert str(e.value) == "w.pt do not match the model: non-float tensors: fc1.weight, fc2.weight"


@pytest.mark.parametrize("extra,unwrapped", [(2, True), (3, False)])
def test_a_wrapper_with_up_to_three_keys_is_unwrapped(tmp_path: Path, extra: int,
                                                      unwrapped: bool) -> None:
    net = _gate()
    ckpt = {"model": net.state_dict(), **{f"k{i}": i for i in range(extra)}}
    path = tmp_path / "ckpt.pt"
    torch.save(ckpt, path)
    if unwrapped:
        assert set(read_state_dict(path)) == {"fc1.weight", "fc2.weight"}
    else:  # a bigger dict is not a wrapper: it is a bad state dict, named as such
        with pytest.raises(WeightsError) as e:
            read_state_dict(path)
        assert str(e.value) == f"{path} does not hold a state dict of name -> tensor"


@pytest.mark.parametrize("obj", [[torch.zeros(1)], {"a": 1.0}, {1: torch.zeros(1)}])
def test_not_a_name_to_tensor_mapping(tmp_path: Path, obj) -> None:
    path = tmp_path / "w.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError) as e:
        read_state_dict(path)
    assert str(e.value).startswith(f"{path} does not hold a state dict")


def test_the_suffix_safetensors_means_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    torch.save(_gate().state_dict(), path)  # a torch zip under a safetensors name
    with pytest.raises(WeightsError, match="as safetensors"):
        read_state_dict(path)
    other = tmp_path / "w.bin"  # safetensors content under any other name is sniffed
    save_file(_gate().state_dict(), str(other))
    assert set(read_state_dict(other)) == {"fc1.weight", "fc2.weight"}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_raw_pickle_goes_to_the_weights_only_loader(tmp_path: Path) -> None:
    path = tmp_path / "raw.pkl"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(WeightsError, match="weights-only torch state dict: Weights only load"):
        read_state_dict(path)


def test_torch_load_is_always_asked_for_weights_only_on_cpu(tmp_path: Path, monkeypatch) -> None:
    """torch >= 2.5 is allowed, whose default was weights_only=False: never rely on it."""
    import chanattn_export.models.weights as w

    seen = []
    real = torch.load

    def load(*a, **k):
        seen.append(k)
        return real(*a, **k)

    monkeypatch.setattr(w.torch, "load", load)
    path = tmp_path / "w.pt"
    torch.save(_gate().state_dict(), path)
    read_state_dict(path)
    assert seen == [{"map_location": "cpu", "weights_only": True}]


@pytest.mark.parametrize("text,shown", [("first line\nsecond line", "first line"),
                                        ("", "RuntimeError")])
def test_a_torch_load_error_is_one_line(tmp_path: Path, monkeypatch, text: str,
                                        shown: str) -> None:
    import chanattn_export.models.weights as w

    def load(*_a, **_k):
        raise RuntimeError(text)

    monkeypatch.setattr(w.torch, "load", load)
    path = tmp_path / "w.pt"
    torch.save({}, path)
    with pytest.raises(WeightsError) as e:
        read_state_dict(path)
    assert str(e.value) == f"cannot load {path} as a weights-only torch state dict: {shown}"


def test_state_dict_bytes_are_deterministic_and_round_trip() -> None:
    a, b = _gate(), _gate()
    data = state_dict_bytes(a, {"model": "cbam-channel-gate"})
    assert data == state_dict_bytes(b, {"model": "cbam-channel-gate"})
    back = load_safetensors_bytes(data)
    assert set(back) == {"fc1.weight", "fc2.weight"}
    assert all(torch.equal(back[k], v) for k, v in a.state_dict().items())
    import tempfile

    from safetensors import safe_open

    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        f.write(data)
        f.flush()
        with safe_open(f.name, "pt") as st:
            assert st.metadata() == {"model": "cbam-channel-gate"}
    assert state_dict_bytes(a) != data  # no metadata: other bytes


def test_two_wrong_shapes_are_both_named() -> None:
    net = _gate()
    state = {k: v[:1] for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError) as e:
        apply_state_dict(net, state)
    assert str(e.value) == ("weights do not match the model: wrong shapes: "
                            "fc1.weight (model [4, 8, 1, 1], file [1, 8, 1, 1]), "
                            "fc2.weight (model [8, 4, 1, 1], file [1, 4, 1, 1])")
