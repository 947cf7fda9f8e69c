"""``--save-test-data``: the parity evidence in ONNX's test-data layout, beside the model, read
back with ``onnx.numpy_helper`` and reproduced by onnxruntime from those files alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper

from chanattn_export import api
from chanattn_export.check.cases import make_cases
from chanattn_export.check.test_data import folder_for, save_test_data
from chanattn_export.cli import main
from chanattn_export.errors import ArtifactError
from chanattn_export.spec import Tolerance

TINY = dict(channels=8, height=4, width=4)


def _sets(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    n = len(list(folder.glob("test_data_set_*")))
    for i in range(n):  # numbered 0..n-1, no gaps
        d = folder / f"test_data_set_{i}"
        pair = []
        for name, tensor in (("input_0.pb", "input"), ("output_0.pb", "output")):
            t = TensorProto()
            t.ParseFromString((d / name).read_bytes())
            assert t.name == tensor  # named after the graph's input / output
            pair.append(numpy_helper.to_array(t))
        out.append((pair[0], pair[1]))
    return out


def _reproduces(folder: Path) -> int:
    """onnxruntime on folder/model.onnx gives every stored output within our bound."""
    tol = Tolerance()
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    sets = _sets(folder)
    for x, y in sets:
        (got,) = sess.run(None, {"input": x})
        bound = tol.atol * max(1.0, float(np.abs(x).max())) + tol.rtol * np.abs(y)
        assert got.shape == y.shape and (np.abs(got - y) <= bound).all()
    return len(sets)


def test_onnx_save_test_data_round_trips(tmp_path: Path, capsys) -> None:
    code = main(["onnx", "--model", "cbam", "--layout", "nhwc", "--channels", "8", "--height",
                 "5", "--width", "6", "--dynamic-hw", "--out", str(tmp_path),
                 "--save-test-data"])
    assert code == 0
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    folder = folder_for(tmp_path, entry["path"])
    assert folder == tmp_path / (entry["path"].removesuffix(".onnx") + ".test_data")
    assert f"test data: {folder}/" in capsys.readouterr().out
    assert (folder / "model.onnx").read_bytes() == (tmp_path / entry["path"]).read_bytes()
    assert _reproduces(folder) == len(entry["parity"]["checks"]) // 2  # per runtime: one set each
    # the inputs are the parity cases, the outputs eager's
    res_spec = api.make_export_spec("cbam", layout="nhwc", channels=8, height=5, width=6,
                                    dynamic_hw=True)
    cases = make_cases(res_spec.model, res_spec.input)
    from chanattn_export.registry import build_model

    net = build_model(res_spec.model, (tmp_path / entry["weights"]).read_bytes())
    for (x, y), case in zip(_sets(folder), cases, strict=True):
        np.testing.assert_array_equal(x, case.x)
        with torch.no_grad():
            np.testing.assert_array_equal(y, net(torch.from_numpy(case.x)).numpy())
    # the folder still verifies: the test data is no stray artifact
    assert main(["verify", str(tmp_path), "--strict"]) == 0


def test_parity_dir_save_test_data_covers_onnx_entries_only(tmp_path: Path) -> None:
    onnx_res = api.export_onnx("se", out=tmp_path, **TINY)
    api.export_torchscript("se", out=tmp_path, **TINY)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Sigmoid())
    user = api.export_onnx(net, input_shape=(1, 3, 6, 6), name="tiny-net", out=tmp_path)
    assert main(["parity", str(tmp_path), "--save-test-data", "--trust-torchscript"]) == 0
    made = sorted(p.name for p in tmp_path.glob("*.test_data"))
    assert made == sorted(folder_for(tmp_path, r.path.name).name for r in (onnx_res, user))
    assert _reproduces(folder_for(tmp_path, user.path.name)) == 15  # its stored evidence


def test_rewrite_replaces_the_whole_folder(tmp_path: Path) -> None:
    res = api.export_onnx("se", out=tmp_path, **TINY)
    (saved,) = save_test_data(tmp_path)
    stale = saved.folder / "test_data_set_99"
    stale.mkdir()
    (saved2,) = save_test_data(tmp_path, [res.path.name])
    assert saved2.folder == saved.folder and not stale.exists() and saved2.sets == saved.sets
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary folder left behind


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    res = api.export_onnx("se", out=tmp_path, **TINY)
    data = bytearray(res.path.read_bytes())
    data[-1] ^= 1  # same size, other bytes
    res.path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256 differs"):
        save_test_data(tmp_path)
    assert not folder_for(tmp_path, res.path.name).exists()
