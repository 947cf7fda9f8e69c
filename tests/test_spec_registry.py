"""Bad parameters raise the toolkit's own error naming the parameter and the valid range."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chanattn_export import (
    ChanAttnError,
    InvalidSpecError,
    UnknownModelError,
    create_model,
    list_models,
)
from chanattn_export.api import make_export_spec


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"channels": 0}, "channels must be in [1,"),
        ({"channels": -3}, "channels must be in [1,"),
        ({"channels": 2.5}, "channels must be an integer; got 2.5"),
        ({"channels": "64"}, "channels must be an integer"),
        ({"channels": True}, "channels must be an integer"),
        ({"ratio": 0}, "ratio must be in [1,"),
        ({"ratio": 100}, "ratio must be in [1, channels=64]; got 100"),
        ({"ratio": 65}, "zero-width MLP"),
        ({"ratio": 1.5}, "ratio must be an integer"),
        ({"layout": "nhcw"}, "layout must be one of nchw, nhwc; got 'nhcw'"),
    ],
)
def test_bad_model_parameters(kwargs: dict, needle: str) -> None:
    with pytest.raises(InvalidSpecError) as exc:
        create_model("cbam-channel", **kwargs)
    assert needle in str(exc.value)
    assert isinstance(exc.value, ChanAttnError)


def test_ratio_equal_to_channels_is_valid() -> None:
    m = create_model("cbam-channel", channels=16, ratio=16)
    assert tuple(m.state_dict()["channel_attention.fc1.weight"].shape) == (1, 16, 1, 1)


def test_default_ratio_shrinks_for_narrow_blocks_but_explicit_does_not() -> None:
    m = create_model("se", channels=8)  # default 16 would be zero-width
    assert tuple(m.state_dict()["fc1.weight"].shape) == (1, 8, 1, 1)
    with pytest.raises(InvalidSpecError, match="ratio must be in"):
        create_model("se", channels=8, ratio=16)


def test_eca_refuses_a_ratio() -> None:
    with pytest.raises(InvalidSpecError, match="'eca' has no reduction MLP"):
        create_model("eca", ratio=4)


def test_unknown_model_suggests_closest_name() -> None:
    with pytest.raises(UnknownModelError) as exc:
        create_model("cbam_chanel")
    assert str(exc.value) == "unknown model 'cbam_chanel'; did you mean 'cbam-channel'? (see: list)"


def test_unknown_model_without_close_match_lists_choices() -> None:
    with pytest.raises(UnknownModelError, match="choose from cbam-channel-gate, cbam-channel"):
        create_model("mobilenet-v3")


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"height": 0}, "height must be in [1,"),
        ({"width": 1.2}, "width must be an integer"),
        ({"batch": 0}, "batch must be in [1,"),
        ({"opset": 3}, "opset must be in [7,"),
        ({"exporter": "onnxmltools"}, "exporter must be one of auto, dynamo, legacy"),
        ({"fmt": "tflite"}, "format must be one of onnx, torchscript"),
    ],
)
def test_bad_export_parameters(kwargs: dict, needle: str) -> None:
    with pytest.raises(InvalidSpecError) as exc:
        make_export_spec("se", **kwargs)
    assert needle in str(exc.value)


def test_registry_lists_the_families_with_summaries() -> None:
    infos = list_models()
    assert [m.name for m in infos][:5] == ["cbam-channel-gate", "cbam-channel", "se", "eca",
                                          "cbam"]
    assert len(infos) >= 13
    assert all(m.summary for m in infos)


def test_import_loads_neither_torch_nor_onnx() -> None:
    code = ("import sys, chanattn_export as c; c.Layout, c.ModelSpec, c.ChanAttnError;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'onnx', 'onnxruntime', 'onnxscript')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
