"""One evidence model: every artifact keeps the parity inputs and eager outputs it was judged
on; every re-check judges against them, and a registered block is also rebuilt from its
weights and compared at fresh inputs. Old folders (before the evidence) keep verifying."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import read_manifest, write_manifest
from safetensors.numpy import save
from torch import nn

import chanattn_export as ca
from chanattn_export.artifacts import ArtifactFolder, sha256_bytes
from chanattn_export.artifacts.evidence import (
    decode_reference,
    encode_reference,
    reference_name,
    select_evidence,
)
from chanattn_export.check.verify import verify_folder
from chanattn_export.errors import ArtifactError
from chanattn_export.fileio.safetensors import read_safetensors

TINY = {"channels": 8, "height": 8, "width": 8}
OLD = Path(__file__).parent / "fixtures" / "manifest-before-evidence"


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x)) * 2.0


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evidence")
    ca.export_onnx("se", out=out, **TINY)
    ca.export_torchscript("se", out=out, **TINY)
    ca.export_pt2("eca", out=out, dynamic_hw=True, **TINY)
    torch.manual_seed(0)
    ca.export_onnx(Tiny(), input_shape=(2, 3, 6, 6), name="tiny", out=out)
    return out


@pytest.fixture
def art(exported: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exported, tmp_path / "art"))


def test_every_entry_names_its_evidence_and_it_holds_the_eager_outputs(exported: Path) -> None:
    from chanattn_export.registry import build_model

    manifest = ArtifactFolder(exported).read_manifest()
    assert len(manifest.entries) == 4
    for e in manifest.entries:
        assert e.reference is not None, e.path
        (rec,) = [f for f in e.files if f.path == e.reference]
        assert rec.role == "reference" and (exported / rec.path).is_file()
        ref = decode_reference((exported / e.reference).read_bytes())
        assert ref.names and len(ref.inputs) == len(ref.outputs)
        if e.source == "registry":  # the evidence is what the rebuilt block computes
            net = build_model(e.model, (exported / e.weights).read_bytes())
            with torch.no_grad():
                for x, y in zip(ref.inputs, ref.outputs, strict=True):
                    np.testing.assert_array_equal(net(torch.from_numpy(x)).numpy(), y)
    # the ONNX and TorchScript files of one block share one evidence file (same bytes)
    se = [e for e in manifest.entries if e.model.name == "se"]
    assert len({e.reference for e in se}) == 1


def test_verify_and_parity_judge_the_evidence_and_the_rebuilt_block(art: Path) -> None:
    checks = ca.check_parity(art, trust_torchscript=True)
    for c in checks:
        refs = {k.reference for k in c.parity.checks}
        assert refs == ({"stored", "eager"} if c.entry.source == "registry" else {"stored"})
        assert c.parity.passed
    assert verify_folder(art, trust_torchscript=True) == []


def _rewrite_evidence(art: Path, path: str, change) -> None:
    """What an attacker who can write the folder does: new evidence bytes under their
    content-addressed name, with the manifest's checksums rewritten to match."""
    m = read_manifest(art)
    (a,) = [a for a in m["artifacts"] if a["path"] == path]
    ref = decode_reference((art / a["reference"]).read_bytes())
    outputs = [change(y) for y in ref.outputs]
    data = encode_reference(ref.names, ref.inputs, outputs, model=a["model"]["name"], seed=0)
    new = reference_name(a["reference"].split(".reference.")[0], sha256_bytes(data))
    (art / new).write_bytes(data)
    for other in m["artifacts"]:
        if other.get("reference") == a["reference"]:
            other["reference"] = new
            for f in other["files"]:
                if f["role"] == "reference":
                    f.update(path=new, sha256=sha256_bytes(data), size=len(data))
    write_manifest(art, m)


def test_evidence_the_model_does_not_compute_fails_verify(art: Path) -> None:
    name = "se-nchw-c8-r8-8x8.onnx"
    _rewrite_evidence(art, name, lambda y: y + 0.01)
    errors = [p for p in verify_folder(art) if p.severity == "error"]
    assert [p.path for p in errors] == [name]
    assert "parity fails" in errors[0].message and "stored in" in errors[0].message


def test_a_swapped_model_with_regenerated_evidence_fails_the_rebuild(art: Path) -> None:
    """The stronger check: the evidence is made to agree with a wrong model file, and only the
    block rebuilt from its weights at fresh inputs catches it."""
    from reliability_helpers import resign, scale_weights

    name = "se-nchw-c8-r8-8x8.onnx"
    scale_weights(art / name, 1.5)
    resign(art, name)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(art / name), providers=["CPUExecutionProvider"])
    (a,) = [a for a in read_manifest(art)["artifacts"] if a["path"] == name]
    ref = decode_reference((art / a["reference"]).read_bytes())
    wrong = iter([sess.run(None, {"input": x})[0] for x in ref.inputs])
    _rewrite_evidence(art, name, lambda y: next(wrong))
    errors = [p for p in verify_folder(art) if p.severity == "error"]
    assert [p.path for p in errors] == [name]
    assert "built from" in errors[0].message  # the rebuilt block's check, not the evidence


def test_a_manifest_written_before_the_evidence_still_verifies(tmp_path: Path) -> None:
    old = Path(shutil.copytree(OLD, tmp_path / "old"))
    entries = json.loads((old / "manifest.json").read_text())["artifacts"]
    assert [a.get("reference") is None for a in entries] == [True, False]  # block, network
    assert verify_folder(old) == []
    checks = ca.check_parity(old)
    assert [sorted({k.reference for k in c.parity.checks}) for c in checks] == [
        ["eager"], ["stored"]]
    assert all(c.parity.passed for c in checks)


def test_the_evidence_keeps_every_case_that_fits_and_never_none() -> None:
    names = ["random", "large", "random", "large", "random", "large"]
    inputs = [np.zeros((n, 4), np.float32) for n in (1, 1, 2, 2, 3, 3)]
    size = inputs[0].nbytes * 2
    assert select_evidence(names, inputs, inputs, 2) == list(range(6))
    # batch 1 first, then the never-traced batch (3), then the traced one (2)
    assert select_evidence(names, inputs, inputs, 2, budget=2 * size) == [0, 1]
    assert select_evidence(names, inputs, inputs, 2, budget=5 * size) == [0, 1, 4]
    assert select_evidence(names, inputs, inputs, 2, budget=0) == [0]


def test_the_reader_agrees_with_safetensors_and_refuses_what_it_cannot_place() -> None:
    data = save({"0000.random.input": np.arange(6, dtype=np.float32).reshape(2, 3),
                 "0000.random.output": np.ones(3, np.float16)}, metadata={"k": "v"})
    tensors, meta = read_safetensors(data)
    assert meta == {"k": "v"} and tensors["0000.random.output"].dtype == np.float16
    np.testing.assert_array_equal(tensors["0000.random.input"],
                                  np.arange(6, dtype=np.float32).reshape(2, 3))
    header = json.dumps({"a": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4]}})
    bad = [b"", b"\xff" * 8, len(header).to_bytes(8, "little") + header.encode(),
           (4).to_bytes(8, "little") + b"[]  ", (10 ** 9).to_bytes(8, "little") + b"{}"]
    for b in bad:
        with pytest.raises(ArtifactError):
            read_safetensors(b)
    rng = np.random.default_rng(0)
    for _ in range(300):  # mutated bytes: one error type, never another exception
        m = bytearray(data)
        for i in rng.integers(0, len(m), 4):
            m[i] = int(rng.integers(0, 256))
        with contextlib.suppress(ArtifactError):
            read_safetensors(bytes(m))
