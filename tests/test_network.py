"""A whole user network (built from the tutorial's classes) goes through swap_attention, exports to
an artifact folder, and `verify` / `parity DIR` prove it later from the folder alone: no user code,
judged against the eager outputs stored with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import tutorial_reference as tut
from reliability_helpers import cli, read_manifest, write_manifest
from torch import nn

from chanattn_export import (
    ArtifactError,
    ExportError,
    InvalidSpecError,
    ParityError,
    api,
    swap_attention,
)
from chanattn_export.artifacts import ManifestEntry, sha256_bytes
from chanattn_export.artifacts.evidence import (
    decode_reference,
    encode_reference,
    reference_name,
)
from chanattn_export.check.parity import compare
from chanattn_export.check.verify import WARNING, verify_folder
from chanattn_export.cli import main
from chanattn_export.spec import Tolerance

SHAPE = (1, 3, 8, 10)
NAME = "tutorial-cnn"
ONNX = f"{NAME}-nchw-c3-8x10.onnx"
PT = f"{NAME}-nchw-c3-8x10.pt"


class TutorialCNN(nn.Module):
    """conv -> the tutorial's attention -> conv -> the tutorial's gate."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.att = tut.UseAttentionModel(16)
        self.head = nn.Conv2d(16, 8, 3, padding=1)
        self.gate = tut.ChannelAttention(8, ratio=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.att(torch.relu(self.stem(x))))
        return x * self.gate(x)


def _original() -> nn.Module:
    torch.manual_seed(0)
    return TutorialCNN().eval()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """ONNX and TorchScript of the swapped network in one folder (about 2 s)."""
    net = _original()
    swapped, report = swap_attention(net, torch.randn(SHAPE))
    assert len(report.replaced) == 2
    out = tmp_path_factory.mktemp("net") / "art"
    res = api.export_onnx(swapped, input_shape=SHAPE, name=NAME, out=out, exporter="legacy")
    assert res.passed and res.written and res.path == out / ONNX
    assert api.export_torchscript(swapped, input_shape=SHAPE, name=NAME, out=out).passed
    return out


@pytest.fixture
def folder(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "art"))


def _within_default_tolerance(expected: np.ndarray, actual: np.ndarray, x: np.ndarray) -> None:
    from chanattn_export.check.parity import input_scale

    tol = Tolerance()
    d = compare("artifact", "fresh", expected, actual, input_scale(x))
    assert d.shape_ok and d.needed_atol(tol.rtol) <= tol.atol, d


def test_artifact_computes_the_original_network(built: Path) -> None:
    """Fresh inputs at an untraced batch: the files give the ORIGINAL network's outputs."""
    net = _original()
    x = np.random.default_rng(7).standard_normal((3, *SHAPE[1:])).astype(np.float32) * 5
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession((built / ONNX).read_bytes(), providers=["CPUExecutionProvider"])
    _within_default_tolerance(want, sess.run(None, {"input": x})[0], x)
    ts = torch.jit.load(str(built / PT))
    with torch.no_grad():
        _within_default_tolerance(want, ts(torch.from_numpy(x)).numpy(), x)


def test_verify_and_parity_accept_it_without_the_users_code(folder: Path, capsys) -> None:
    p = cli("verify", str(folder), "--trust-torchscript")  # a process without TutorialCNN
    assert p.returncode == 0, p.stdout + p.stderr
    assert main(["verify", str(folder), "--trust-torchscript"]) == 0
    assert "every file matches the manifest, loads, and passes parity" in capsys.readouterr().out
    assert main(["parity", str(folder), "--trust-torchscript"]) == 0
    out = capsys.readouterr().out
    assert ONNX in out and PT in out and "FAIL" not in out
    entry = read_manifest(folder)["artifacts"][0]
    assert entry["source"] == "user" and entry["model"]["name"] == NAME
    assert entry["reference"] in {f["path"] for f in entry["files"]}


def test_torchscript_keeps_the_trust_rule(folder: Path, capsys) -> None:
    problems = verify_folder(folder)
    assert [(p.path, p.severity) for p in problems] == [("manifest.json", WARNING)]
    assert f"1 TorchScript file not loaded ({PT}; " in problems[0].message
    assert main(["parity", str(folder)]) == 0  # the ONNX file is checked; the .pt is not run
    assert main(["parity", str(folder), "--strict"]) == 1
    assert "not loaded" in capsys.readouterr().err


def test_formats_share_one_weights_and_one_reference_file(built: Path) -> None:
    """Content-addressed: the same network's evidence is stored once, whatever the format."""
    assert len(list(built.glob("*.reference.*.safetensors"))) == 1
    assert len(list(built.glob("*.safetensors"))) == 2
    ref = decode_reference(next(built.glob("*.reference.*")).read_bytes())
    assert set(ref.names) == {"random", "large", "constant", "negative", "saturate"}
    assert {x.shape[0] for x in ref.inputs} == {1, 2, 3}  # batch 1, traced, untraced
    assert all(x.shape[1:] == SHAPE[1:] for x in ref.inputs)


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _errors(folder: Path) -> list[str]:
    return [str(p) for p in verify_folder(folder, trust_torchscript=True)
            if p.severity != WARNING]


@pytest.mark.parametrize("target", ["reference", "model"])
def test_tampered_reference_or_model_fails_verify(folder: Path, target: str, capsys) -> None:
    entry = read_manifest(folder)["artifacts"][0]
    rel = entry["reference"] if target == "reference" else entry["path"]
    _flip(folder / rel)
    errors = _errors(folder)
    assert errors and all("sha256 differs" in e for e in errors)
    assert any(e.startswith(rel) for e in errors)
    assert main(["verify", str(folder), "--trust-torchscript"]) == 1


def _restore_reference(folder: Path, data: bytes) -> None:
    """What an attacker (or a bug) does: a new reference file, recorded consistently."""
    m = read_manifest(folder)
    old = m["artifacts"][0]["reference"]
    new = reference_name(old.split(".reference.")[0], sha256_bytes(data))
    (folder / new).write_bytes(data)
    for a in m["artifacts"]:
        a["reference"] = new
        for f in a["files"]:
            if f["path"] == old:
                f.update(path=new, sha256=sha256_bytes(data), size=len(data))
    write_manifest(folder, m)
    (folder / old).unlink()


def _nudge_stored_outputs(folder: Path, by: float) -> None:
    """Move every stored eager output by ``by`` (relative, plus absolute) and rewrite the
    reference file and its checksums to match, as an attacker would."""
    ref = decode_reference(next(folder.glob("*.reference.*")).read_bytes())
    outputs = [y + by * (1 + np.abs(y)) for y in ref.outputs]
    _restore_reference(folder, encode_reference(ref.names, ref.inputs, outputs, model=NAME,
                                                seed=ref.seed))


def test_outputs_that_the_artifact_does_not_compute_fail(folder: Path, capsys) -> None:
    """The stored outputs are really compared: nudged ones (checksums made to match) fail."""
    _nudge_stored_outputs(folder, 1e-2)
    errors = _errors(folder)
    assert any(e.startswith(ONNX) and "parity fails on onnxruntime-cpu" in e
               and "stored in" in e for e in errors), errors
    assert any(e.startswith(PT) and "parity fails on torchscript-cpu" in e for e in errors)
    assert main(["parity", str(folder), "--trust-torchscript"]) == 1
    assert read_manifest(folder)["artifacts"][0]["status"] == "failed"  # verdict recorded


def test_a_loose_tolerance_is_the_command_lines_only(folder: Path, capsys) -> None:
    """The stored outputs are judged at the CLI's tolerance, never at one from the manifest."""
    _nudge_stored_outputs(folder, 1e-3)
    m = read_manifest(folder)
    for a in m["artifacts"]:
        a["parity"]["atol"] = a["parity"]["rtol"] = 1.0
    write_manifest(folder, m)
    assert main(["verify", str(folder), "--trust-torchscript"]) == 1
    assert "looser tolerance than the defaults" in capsys.readouterr().out
    assert main(["verify", str(folder), "--trust-torchscript", "--atol", "1", "--rtol", "1"]) == 0


@pytest.mark.parametrize("bad, message", [
    (b"not a safetensors file at all", "not a valid reference file"),
    (None, "does not fit the manifest's input"),
])
def test_a_bad_reference_file_is_one_problem(folder: Path, bad: bytes | None,
                                             message: str) -> None:
    if bad is None:  # stored inputs with 4 channels for a 3-channel network
        ref = decode_reference(next(folder.glob("*.reference.*")).read_bytes())
        wide = [np.concatenate([x, x[:, :1]], axis=1) for x in ref.inputs]
        bad = encode_reference(ref.names, wide, ref.outputs, model=NAME, seed=0)
    _restore_reference(folder, bad)
    errors = _errors(folder)
    assert errors and all(message in e and "\n" not in e for e in errors), errors


def test_manifest_entry_of_a_network_must_name_its_reference(built: Path) -> None:
    raw = read_manifest(built)["artifacts"][0]
    assert ManifestEntry.from_dict(raw).reference == raw["reference"]
    with pytest.raises(ArtifactError, match="'reference' must name the evidence file"):
        ManifestEntry.from_dict({**raw, "reference": None})
    # a registered block names its evidence the same way (and is also rebuildable)
    assert ManifestEntry.from_dict({**raw, "source": "registry"}).reference == raw["reference"]
    renamed = raw["reference"].replace(".reference.", ".reference.0")
    files = [{**f, "path": renamed} if f["path"] == raw["reference"] else f
             for f in raw["files"]]
    with pytest.raises(ArtifactError, match="does not carry its sha256"):
        ManifestEntry.from_dict({**raw, "reference": renamed, "files": files})


def test_report_inspect_and_serving_read_it(built: Path, tmp_path: Path, capsys) -> None:
    page = tmp_path / "r.html"
    assert main(["report", str(built), "--out", str(page)]) == 0
    html = page.read_text()
    assert ONNX in html and PT in html and "user network" in html
    capsys.readouterr()
    assert main(["inspect", str(built), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    (onnx_rec,) = [a for a in record["artifacts"] if a["path"] == ONNX]
    assert onnx_rec["manifest"]["source"] == "user"
    assert all(f["matches"] for f in onnx_rec["manifest"]["files"])
    assert main(["inspect", str(built / ONNX)]) == 0
    assert "user network" in capsys.readouterr().out

    from chanattn_export.serving import load_artifact

    served = load_artifact(built, NAME)
    assert served.parity.passed and served.output.dims == ("batch", 8, 8, 10)
    x = np.random.default_rng(1).standard_normal((2, *SHAPE[1:])).astype(np.float32)
    with torch.no_grad():
        _within_default_tolerance(_original()(torch.from_numpy(x)).numpy(), served.run(x), x)


def test_the_tutorial_network_as_is(tmp_path: Path) -> None:
    """Unswapped: torch.onnx handles AdaptiveMaxPool2d on this stack (then it must pass and
    verify); where it cannot, the error is one line that points at swap_attention."""
    try:
        res = api.export_onnx(_original(), input_shape=SHAPE, name=NAME, out=tmp_path / "a",
                              exporter="legacy")
    except ExportError as e:
        assert "swap_attention" in str(e) and "\n" not in str(e)
        return
    assert res.passed and res.written
    assert verify_folder(tmp_path / "a") == []


def test_a_failed_export_suggests_swap_attention(tmp_path: Path, monkeypatch) -> None:
    import chanattn_export.export.onnx as onnx_export

    def fail(*_a, **_k):
        raise ExportError("legacy exporter failed: Unsupported: ONNX export of operator "
                          "adaptive_max_pool2d")

    monkeypatch.setattr(onnx_export, "export_onnx_bytes", fail)
    with pytest.raises(ExportError) as info:
        api.export_onnx(_original(), input_shape=SHAPE, name=NAME, out=tmp_path / "a")
    text = str(info.value)
    assert "adaptive_max_pool2d" in text and "swap_attention" in text and "(att, gate)" in text
    assert "\n" not in text
    plain = nn.Sequential(nn.Conv2d(3, 4, 1))  # nothing to swap: the error alone
    with pytest.raises(ExportError) as info:
        api.export_onnx(plain, input_shape=SHAPE, name="plain", out=tmp_path / "a")
    assert "swap_attention" not in str(info.value)
    assert not (tmp_path / "a" / "manifest.json").exists()


def test_layout_decides_the_channel_axis(tmp_path: Path) -> None:
    class Nhwc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    torch.manual_seed(0)
    res = api.export_onnx(Nhwc(), input_shape=(1, 8, 10, 3), layout="nhwc", out=tmp_path,
                          exporter="legacy")
    assert res.passed and res.path.name == "nhwc-nhwc-c3-8x10.onnx"
    ref = decode_reference(next(tmp_path.glob("*.reference.*")).read_bytes())
    assert all(x.shape[3] == 3 for x in ref.inputs)
    assert verify_folder(tmp_path) == []


class _Fails(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 5x6)\nmore")


class _Batch1(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(1, 3, 80)


@pytest.mark.parametrize("model, kwargs, message", [
    (42, {}, "model must be a registered model name or a torch.nn.Module; got int"),
    (nn.Conv2d(3, 4, 1), {"input_shape": (1, 3, 8)}, "input_shape must have 4 dims"),
    (nn.Conv2d(3, 4, 1), {"input_shape": (1, 3, 0, 8)}, "input_shape[2] (H) must be in"),
    (nn.Conv2d(3, 4, 1), {"input_shape": (1, 4, 8, 8)}, "forward fails on input_shape"),
    (_Fails(), {"input_shape": SHAPE}, "mat1 and mat2 shapes cannot be multiplied"),
    (_Batch1(), {"input_shape": SHAPE}, "the network must take any batch, but eager-cpu"),
    (nn.Sequential(nn.Flatten(), nn.Linear(240, 2)), {"input_shape": SHAPE, "dynamic_hw": True},
     "must take any batch and H x W (dynamic_hw), but"),
    (nn.Conv2d(3, 4, 1), {}, "needs input_shape="),
    (nn.Conv2d(3, 4, 1), {"input_shape": SHAPE, "channels": 8}, "channels describe a "),
    (nn.Conv2d(3, 4, 1), {"input_shape": SHAPE, "name": "se"}, "is a registered model"),
    (nn.Conv2d(3, 4, 1), {"input_shape": SHAPE, "name": "../x"}, "name must be"),
    (nn.Conv2d(3, 4, 1).double(), {"input_shape": SHAPE}, "float64 tensors"),
    ("se", {"input_shape": SHAPE}, "input_shape= and name= are for a network"),
])
def test_bad_arguments_are_one_line_and_write_nothing(tmp_path: Path, model, kwargs,
                                                      message: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        api.export_onnx(model, out=tmp_path / "out", **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_the_users_module_is_left_as_it_was(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    api.export_onnx(net, input_shape=SHAPE, name="bn", out=tmp_path, exporter="legacy")
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


class _Branchy(nn.Module):
    """Python control flow on the data: tracing keeps only the branch the example took."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * 2 if bool(x.sum() > 0) else y - 1


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_export_that_is_not_the_network_is_never_committed(tmp_path: Path, fmt: str) -> None:
    torch.manual_seed(0)
    export = api.export_onnx if fmt == "onnx" else api.export_torchscript
    kw = {"exporter": "legacy"} if fmt == "onnx" else {}
    res = export(_Branchy(), input_shape=SHAPE, name="branchy", out=tmp_path / "a", **kw)
    assert not res.passed and not res.written
    assert not (tmp_path / "a" / "manifest.json").exists()
    with pytest.raises(ParityError):
        res.raise_for_status()
    kept = export(_Branchy(), input_shape=SHAPE, name="branchy", out=tmp_path / "a",
                  keep_failed=True, **kw)
    assert kept.path.parent.name == "failed" and kept.path.is_file()
    assert kept.reference_path is not None and kept.reference_path.is_file()
    assert not (tmp_path / "a" / "manifest.json").exists()


def test_pt2_program_of_a_network_verifies(tmp_path: Path) -> None:
    swapped, _ = swap_attention(_original(), torch.randn(SHAPE))
    res = api.export_pt2(swapped, input_shape=SHAPE, name=NAME, out=tmp_path)
    assert res.passed and res.path.suffix == ".pt2"
    assert verify_folder(tmp_path) == []


def test_any_bytes_as_a_reference_file_give_one_line() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(st.binary(max_size=400))
    def check(data: bytes) -> None:
        try:
            decode_reference(data)
        except ArtifactError as e:
            assert "\n" not in str(e)

    check()
    good = encode_reference(["random"], [np.zeros((1, 3, 2, 2), np.float32)],
                            [np.ones((1, 4), np.float32)], model=NAME, seed=5)
    ref = decode_reference(good)
    assert ref.names == ("random",) and ref.seed == 5 and ref.outputs[0].shape == (1, 4)
    for cut in (8, len(good) // 2, len(good) - 1):
        with pytest.raises(ArtifactError):
            decode_reference(good[:cut])
