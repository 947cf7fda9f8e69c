"""--save-reference: Polygraphy itself accepts the saved parity inputs and eager outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import ONNX_NAME, PT_NAME

from chanattn_export.check.cases import CASES
from chanattn_export.check.reference import save_reference

polygraphy = pytest.importorskip("polygraphy", reason="pip install polygraphy (test extra)")


def _polygraphy_run(command: str) -> subprocess.CompletedProcess[str]:
    # the script beside this interpreter (a venv run without activating it), else on PATH
    beside = Path(sys.executable).parent / "polygraphy"
    exe = str(beside) if beside.is_file() else shutil.which("polygraphy") or ""
    args = command.split()
    assert args[:2] == ["polygraphy", "run"]
    argv = [exe, *args[1:]] if exe else [sys.executable, "-m", "polygraphy", *args[1:]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def saved(pristine, tmp_path_factory):
    dest = tmp_path_factory.mktemp("ref")
    return dest, {r.artifact: r for r in save_reference(dest, pristine)}


def test_polygraphy_accepts_and_passes_the_saved_reference(saved):
    _, refs = saved
    ref = refs[ONNX_NAME]
    p = _polygraphy_run(ref.command)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout + p.stderr
    n = len(json.loads((ref.folder / "reference.json").read_text())["cases"])
    assert f"Passed: {n}/{n} iterations" in out


def test_polygraphy_fails_when_the_reference_is_off(saved, tmp_path):
    """The check can fail: one output value moved by 0.05 makes polygraphy exit non-zero."""
    from polygraphy.comparator import RunResults

    _, refs = saved
    ref = refs[ONNX_NAME]
    bad = tmp_path / "outputs.json"
    results = RunResults.load(str(ref.folder / "outputs.json"))
    out = results[0][1][0]["output"]
    out.reshape(-1)[0] += 0.05
    results[0][1][0]["output"] = out
    results.save(str(bad))
    p = _polygraphy_run(ref.command.replace(str(ref.folder / "outputs.json"), str(bad)))
    assert p.returncode != 0
    assert "FAILED" in p.stdout + p.stderr


def test_index_names_every_case_and_torchscript_has_no_command(saved, pristine):
    _, refs = saved
    assert set(refs) == {ONNX_NAME, PT_NAME}
    assert refs[PT_NAME].command is None
    index = json.loads((refs[ONNX_NAME].folder / "reference.json").read_text())
    assert index["schema"] == "chanattn_export.reference/1"
    assert {c["case"] for c in index["cases"]} == set(CASES)
    from polygraphy.json import load_json

    feeds = load_json(str(refs[ONNX_NAME].folder / "inputs.json"))
    assert len(feeds) == len(index["cases"])
    assert [list(f["input"].shape) for f in feeds] == [c["shape"] for c in index["cases"]]
    assert all(f["input"].dtype == np.float32 for f in feeds)


def test_cli_parity_saves_references(folder: Path, tmp_path: Path, capsys):
    from chanattn_export.cli import main

    assert main(["parity", str(folder), "--trust-torchscript",
                 "--save-reference", str(tmp_path / "r")]) == 0
    assert "check: polygraphy run" in capsys.readouterr().out
    assert (tmp_path / "r" / ONNX_NAME / "inputs.json").is_file()
    assert (tmp_path / "r" / PT_NAME / "outputs.json").is_file()


def test_export_command_saves_the_reference_of_its_artifact(tmp_path: Path, capsys):
    from chanattn_export.cli import main

    rc = main(["torchscript", "--model", "se", "--channels", "8", "--height", "8", "--width", "8",
               "--out", str(tmp_path / "a"), "--save-reference", str(tmp_path / "r")])
    assert rc == 0
    assert [p.name for p in (tmp_path / "r").iterdir()] == [PT_NAME]
    assert f"reference: {tmp_path / 'r' / PT_NAME}/" in capsys.readouterr().out
