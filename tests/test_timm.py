"""timm compatibility: timm 1.0.31's own modules' state dicts load with ``strict=True`` into
our ``preset="timm"`` blocks and give timm's outputs, in both layouts.

The state dicts, inputs and timm's outputs were produced by timm itself with
``scripts/make_timm_fixtures.py`` (timm's package import needs torchvision, which this CPU
stack cannot install); that script's docstring says how it was run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from chanattn_export import InvalidSpecError, create_model, export_onnx, export_torchscript
from chanattn_export.check.parity import compare, judge
from chanattn_export.spec import Tolerance

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "timm").glob("*.safetensors"))
TIMM_CLASSES = {"SEModule", "EffectiveSEModule", "EcaModule", "CecaModule", "CbamModule",
                "GlobalContext"}


def load(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor], torch.Tensor,
                              torch.Tensor]:
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        t = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    state = {k.removeprefix("state."): v for k, v in t.items() if k.startswith("state.")}
    return meta, state, t["input"], t["output"]


def test_fixtures_cover_every_timm_module() -> None:
    classes = set()
    for p in FIXTURES:
        meta = load(p)[0]
        assert meta["timm_version"] == "1.0.31"
        classes.add(meta["timm_class"])
    assert classes == TIMM_CLASSES


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_timm_state_dict_loads_strict_and_matches(path: Path, layout: str) -> None:
    meta, state, x, expected = load(path)
    ours = create_model(meta["model"], channels=int(meta["channels"]), layout=layout,
                        preset="timm")
    ours.load_state_dict(state, strict=True)
    with torch.no_grad():
        if layout == "nhwc":
            y = ours(x.permute(0, 2, 3, 1).contiguous()).permute(0, 3, 1, 2)
        else:
            y = ours(x)
    scale = float(max(1.0, x.abs().max()))
    report = judge([compare("ours", meta["timm_class"], expected.numpy(), y.numpy(), scale)],
                   Tolerance(atol=1e-5, rtol=0.0))
    assert report.passed, report.checks


def test_paper_defaults_differ_from_timm_where_the_issue_says() -> None:
    """The presets exist because the defaults differ: SE's width, ECA's k, CBAM's rounding."""
    assert create_model("se", channels=32).fc1.weight.shape[0] == 2
    assert create_model("se", channels=32, preset="timm").fc1.weight.shape[0] == 8
    assert create_model("eca", channels=4).conv.weight.shape[-1] == 1
    assert create_model("eca", channels=4, preset="timm").conv.weight.shape[-1] == 3
    assert create_model("cbam", channels=24).channel.fc1.weight.shape[0] == 1
    assert create_model("cbam", channels=24, preset="timm").channel.fc1.weight.shape[0] == 2


def test_make_divisible_matches_timm_widths_the_issue_lists() -> None:
    for c in (32, 64, 96):
        assert create_model("se", channels=c, preset="timm").fc1.weight.shape[0] == 8
    assert create_model("se", channels=512, preset="timm").fc1.weight.shape[0] == 32


def test_hidden_given_directly() -> None:
    m = create_model("se", channels=48, hidden=8)
    assert m.fc1.weight.shape == (8, 48, 1, 1) and m.fc2.weight.shape == (48, 8, 1, 1)
    with pytest.raises(InvalidSpecError, match="no hidden layer"):
        create_model("simam", channels=8, hidden=2)
    with pytest.raises(InvalidSpecError, match="no timm preset"):
        create_model("srm", channels=8, preset="timm")


def _state_file(path: Path, tmp_path: Path) -> Path:
    out = tmp_path / "timm.safetensors"
    save_file(load(path)[1], str(out))
    return out


def test_hidden_width_is_read_from_the_weights_file(tmp_path: Path) -> None:
    """A timm SE checkpoint (hidden 8 at C=32) exports with the default preset: the file's
    shapes decide, the manifest records them, and parity passes."""
    weights = _state_file(FIXTURES[[p.stem for p in FIXTURES].index("se-c32")], tmp_path)
    res = export_onnx("se", channels=32, height=5, width=6, weights=weights,
                      out=tmp_path / "art")
    assert res.passed and res.spec.model.hidden == 8
    assert "-h8-" in res.path.name
    from chanattn_export.check.verify import verify_folder

    assert verify_folder(tmp_path / "art") == []


def test_weights_mismatch_is_still_one_clear_error(tmp_path: Path) -> None:
    from chanattn_export import WeightsError

    weights = _state_file(FIXTURES[[p.stem for p in FIXTURES].index("cbam-c24")], tmp_path)
    with pytest.raises(WeightsError, match=r"unexpected keys: spatial\.conv\.bn\.bias"):
        export_onnx("cbam", channels=24, height=5, width=6, weights=weights,
                    out=tmp_path / "art")  # the default preset has no spatial BatchNorm


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_cbam_batchnorm_is_folded_at_export_with_parity_against_the_unfolded_model(
        layout: str, tmp_path: Path) -> None:
    weights = _state_file(FIXTURES[[p.stem for p in FIXTURES].index("cbam-c24")], tmp_path)
    res = export_onnx("cbam", channels=24, height=5, width=6, preset="timm", layout=layout,
                      weights=weights, dynamic_hw=True, out=tmp_path / "art")
    assert res.passed, res.parity.failures
    ops = {n.op_type for n in onnx.load(str(res.path)).graph.node}
    assert "BatchNormalization" not in ops and "Conv" in ops
    ts = export_torchscript("cbam", channels=24, height=5, width=6, preset="timm",
                            layout=layout, weights=weights, out=tmp_path / "art")
    assert ts.passed, ts.parity.failures
    # the unfolded eager model is the reference, and it really has a BatchNorm
    m = create_model("cbam", channels=24, preset="timm")
    assert isinstance(m.spatial.conv.bn, torch.nn.BatchNorm2d)


def test_old_manifest_model_without_hidden_or_preset_still_loads() -> None:
    from chanattn_export.spec import ModelSpec

    old = {"name": "se", "channels": 8, "ratio": 8, "layout": "nchw"}
    spec = ModelSpec.from_dict(old)
    assert spec.hidden is None and spec.preset == "default"
    new = ModelSpec(name="se", channels=32, ratio=16, hidden=8, preset="timm")
    assert ModelSpec.from_dict(new.to_dict()) == new
    assert np.all([k in new.to_dict() for k in ("hidden", "preset")])


def test_cli_preset_and_hidden(tmp_path: Path, capsys) -> None:
    import json

    from chanattn_export.cli import main

    argv = ["--channels", "24", "--height", "5", "--width", "5", "--out", str(tmp_path)]
    assert main(["onnx", "--model", "se", "--preset", "timm", "--hidden", "4", *argv]) == 0
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    assert entry["model"]["preset"] == "timm" and entry["model"]["hidden"] == 4
    assert main(["onnx", "--model", "srm", "--preset", "timm", *argv]) == 2
    assert "no timm preset" in capsys.readouterr().err
