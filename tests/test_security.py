"""Untrusted files: tampered weights are caught, no pickle, checksum before load, confined paths."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from reliability_helpers import (
    ONNX_NAME,
    PT_NAME,
    read_manifest,
    resign,
    write_manifest,
)

from chanattn_export import ArtifactError, WeightsError
from chanattn_export.api import check_parity
from chanattn_export.artifacts import ArtifactFolder
from chanattn_export.check.verify import verify_folder
from chanattn_export.models.weights import read_state_dict

PACKAGE = Path(__file__).resolve().parent.parent / "chanattn_export"


def _nudge_one_weight(path: Path, delta: float = 0.05) -> str:
    """Add ``delta`` to one element of the largest float initializer; return its name."""
    model = onnx.load(str(path))
    inits = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    target = max(inits, key=lambda i: int(np.prod(i.dims)))
    arr = numpy_helper.to_array(target).copy()
    arr.flat[0] += delta
    target.CopyFrom(numpy_helper.from_array(arr, target.name))
    path.write_bytes(model.SerializeToString())
    return target.name


def test_mutated_and_resigned_onnx_fails_parity(folder: Path) -> None:
    assert all(r.parity.passed for r in check_parity(folder, trust_torchscript=True))
    _nudge_one_weight(folder / ONNX_NAME)
    resign(folder, ONNX_NAME)  # the attacker also rewrote the checksums
    results = {r.entry.path: r for r in check_parity(folder, trust_torchscript=True)}
    assert not results[ONNX_NAME].parity.passed
    assert results[PT_NAME].parity.passed
    errors = [str(p) for p in verify_folder(folder, trust_torchscript=True)]
    assert len(errors) == 1 and errors[0].startswith(ONNX_NAME) and "parity fails" in errors[0]


def test_pickle_payload_in_weights_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pt"
    torch.save({"w": Payload()}, bad)
    with pytest.raises(WeightsError):
        read_state_dict(bad)
    assert not marker.exists()


def test_no_pickle_in_the_package() -> None:
    """No module imports pickle; every torch.load passes weights_only=True."""
    for py in PACKAGE.rglob("*.py"):
        tree = ast.parse(py.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("pickle", "dill", "cloudpickle")
                               for n in names), py
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("torch.load"):
                kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
                assert kw.get("weights_only") == "True", f"{py}: {ast.unparse(node)}"


def test_torchscript_is_loaded_only_after_its_checksum_matches(folder: Path,
                                                                monkeypatch) -> None:
    other = folder / "other.pt"
    torch.jit.save(torch.jit.script(torch.nn.Identity()), str(other))
    shutil.move(other, folder / PT_NAME)  # swapped for a different, valid TorchScript file

    def refuse(*_a, **_k):
        raise AssertionError("torch.jit.load ran on a file whose checksum did not match")

    monkeypatch.setattr(torch.jit, "load", refuse)
    errors = [str(p) for p in verify_folder(folder, trust_torchscript=True)]
    assert any(e.startswith(PT_NAME) and "sha256 differs" in e for e in errors)
    with pytest.raises(ArtifactError, match="sha256 differs"):
        check_parity(folder, trust_torchscript=True)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "sub/../../x.onnx",
                                 "..\\..\\x.onnx" if os.sep == "\\" else "/tmp/x.onnx"])
def test_paths_cannot_escape_the_folder(folder: Path, bad: str) -> None:
    m = read_manifest(folder)
    record = m["artifacts"][1]["files"][1]
    bad = f"{bad}.{record['sha256'][:12]}.safetensors"  # a well-formed weights name, outside
    record["path"] = m["artifacts"][1]["weights"] = bad
    write_manifest(folder, m)
    errors = [str(p) for p in verify_folder(folder, trust_torchscript=True)]
    assert any("escapes the artifact folder" in e for e in errors)
    with pytest.raises(ArtifactError, match="escapes"):
        check_parity(folder, trust_torchscript=True)


@pytest.mark.parametrize("bad", ["../outside.bin", "/etc/passwd"])
def test_parity_refuses_any_file_record_outside_the_folder(folder: Path, bad: str) -> None:
    """Not only the model and weights: every record in `files` is confined (parity and verify)."""
    m = read_manifest(folder)
    m["artifacts"][0]["files"].append({"path": bad, "sha256": "0" * 64, "role": "extra"})
    write_manifest(folder, m)
    with pytest.raises(ArtifactError, match="escapes"):
        check_parity(folder, trust_torchscript=True)
    assert any("escapes" in str(p) for p in verify_folder(folder, trust_torchscript=True))


def test_symlink_out_of_the_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(b"x")
    (folder / "link.safetensors").symlink_to(outside)
    with pytest.raises(ArtifactError, match="escapes"):
        ArtifactFolder(folder).resolve("link.safetensors")
