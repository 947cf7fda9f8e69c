"""``inspect FILE_OR_DIR``: what an artifact is, in text and in the versioned JSON schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from onnx import helper
from reliability_helpers import ONNX_NAME, PT_NAME, cli
from test_lint import _const, _model
from torchless import make_world_readable_base, run_torchless

from chanattn_export.check.inspect import SCHEMA, inspect_path
from chanattn_export.cli import main


def _json(capsys, *args: str) -> dict:
    assert main(["inspect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_folder_json_schema(pristine, capsys):
    rec = _json(capsys, str(pristine))
    assert rec["schema"] == SCHEMA == "chanattn_export.inspect/1"
    assert rec["kind"] == "folder" and rec["signature"] == "unsigned"
    arts = {a["path"]: a for a in rec["artifacts"]}
    assert set(arts) == {ONNX_NAME, PT_NAME}
    onnx = arts[ONNX_NAME]
    m = onnx["manifest"]
    assert m["status"] == "passed" and m["parity"]["passed"] is True
    assert m["parity"]["checks"] > 0 and m["parity"]["worst"]["backend"] == "onnxruntime-cpu"
    assert m["sha256"] == onnx["sha256"] and all(f["matches"] for f in m["files"])
    assert onnx["graph"]["inputs"][0] == {"name": "input", "dims": ["batch", 8, 8, 8],
                                          "dtype": "float32"}
    assert onnx["graph"]["metadata"]["chanattn_export.input_dims"] == ["batch", 8, 8, 8]
    assert onnx["graph"]["opset"] == {"ai.onnx": 18}
    assert onnx["lint"] == []
    pt = arts[PT_NAME]
    assert pt["graph"] is None and pt["archive"]["zip"] and pt["archive"]["loaded"] is False
    assert pt["manifest"]["exporter"] == "trace"


def test_text_names_what_a_deployer_asks(pristine, capsys):
    assert main(["inspect", str(pristine)]) == 0
    out = capsys.readouterr().out
    for needle in ("cbam-channel C=8 ratio=8 layout=nchw", "input [batch, 8, 8, 8] float32",
                   "dynamo, opset 18", "PASS, ", "worst onnxruntime-cpu", "(matches the manifest)",
                   "lint        clean", "signature: unsigned",
                   "not loaded (inspect never runs a program)"):
        assert needle in out, needle


def test_plain_onnx_without_manifest(pristine, tmp_path, capsys):
    shutil.copy(pristine / ONNX_NAME, tmp_path / "m.onnx")
    rec = _json(capsys, str(tmp_path / "m.onnx"))
    (a,) = rec["artifacts"]
    assert rec["manifest"] is None and a["manifest"] is None
    assert a["graph"]["metadata"]["chanattn_export.model"] == "cbam-channel"
    assert a["graph"]["outputs"][0]["name"] == "output"
    assert main(["inspect", str(tmp_path / "m.onnx")]) == 0
    assert "unknown (no manifest names this file)" in capsys.readouterr().out


def test_tampered_file_signature_and_lint_are_shown(folder: Path, capsys):
    data = bytearray((folder / ONNX_NAME).read_bytes())
    data[data.index(b"channel attention exported")] ^= 0x20
    (folder / ONNX_NAME).write_bytes(bytes(data))
    (folder / "manifest.json.sig").write_text("sig")
    baked = _model([helper.make_node("Reshape", ["input", "shape"], ["output"])],
                   [_const("shape", [2, 8, 8, 8])])
    (folder / "baked.onnx").write_bytes(baked)
    assert main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH: the manifest says" in out
    assert "signature: signed (manifest.json.sig, not a signature of this toolkit): see verify" \
        in out
    rec = inspect_path(folder / "baked.onnx")  # static rules only: the graph is not run
    assert [p["rule"] for p in rec["artifacts"][0]["lint"]] == ["baked-shape"]
    rec = inspect_path(folder / "baked.onnx", run_graph=30)  # run, in a limited child
    assert [p["rule"] for p in rec["artifacts"][0]["lint"]] == ["baked-shape", "unseen-shape"]


def test_missing_target_is_one_line_exit_2(tmp_path):
    p = cli("inspect", str(tmp_path / "nope"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"


def test_inspect_never_imports_torch_and_never_loads_torchscript(pristine):
    base = make_world_readable_base()
    try:
        shutil.copytree(pristine, base / "art")
        p = run_torchless(["-m", "chanattn_export", "inspect", "--json", "--no-lint",
                           str(base / "art")], base)
        assert p.returncode == 0, p.stderr[-2000:]
        rec = json.loads(p.stdout)
        assert {a["path"] for a in rec["artifacts"]} == {ONNX_NAME, PT_NAME}
        onnx = next(a for a in rec["artifacts"] if a["path"] == ONNX_NAME)
        assert onnx["graph"] == {"error": "onnx is not installed: pip install onnx"}
        assert onnx["manifest"]["parity"]["passed"] is True
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_parity_and_verify_json(folder: Path, capsys):
    assert main(["parity", str(folder), "--json", "--trust-torchscript"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "chanattn_export.parity/1" and doc["passed"] is True
    arts = {a["path"]: a for a in doc["artifacts"]}
    assert set(arts) == {ONNX_NAME, PT_NAME}
    assert arts[ONNX_NAME]["parity"]["checks"] and arts[ONNX_NAME]["passed"] is True

    assert main(["verify", str(folder), "--json", "--trust-torchscript"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"schema": "chanattn_export.verify/1", "folder": str(folder), "ok": True,
                   "problems": []}

    (folder / ONNX_NAME).write_bytes(b"garbage")
    assert main(["verify", str(folder), "--json", "--trust-torchscript"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert [p["path"] for p in doc["problems"] if p["severity"] == "error"] == [ONNX_NAME]
