"""`verify --strict`: a warning (something not proven) fails the command; without it, warnings
are reported and the exit code says only whether an error was found."""

from __future__ import annotations

import json
from pathlib import Path

from reliability_helpers import PT_NAME

from chanattn_export.cli import main


def _run(capsys, *args: str) -> tuple[int, str]:
    rc = main(["verify", *args])
    return rc, capsys.readouterr().out


def test_a_torchscript_file_not_loaded_fails_only_under_strict(folder: Path, capsys) -> None:
    rc, out = _run(capsys, str(folder))
    assert rc == 0 and PT_NAME in out and "1 warning (see above" in out
    rc, out = _run(capsys, str(folder), "--strict")
    assert rc == 1 and "1 warning (--strict: failed" in out
    rc, out = _run(capsys, str(folder), "--strict", "--json")
    doc = json.loads(out)
    assert rc == 1 and doc["ok"] is False and [p["severity"] for p in doc["problems"]] == [
        "warning"]
    rc, out = _run(capsys, str(folder), "--json")
    assert rc == 0 and json.loads(out)["ok"] is True


def test_strict_passes_a_folder_proven_in_full(folder: Path, capsys) -> None:
    rc, out = _run(capsys, str(folder), "--strict", "--trust-torchscript")
    assert rc == 0, out
    assert "every file matches the manifest, loads, and passes parity" in out


def test_strict_fails_on_an_unnamed_file(folder: Path, capsys) -> None:
    (folder / "stray.onnx").write_bytes(b"not named by the manifest")
    assert _run(capsys, str(folder), "--trust-torchscript")[0] == 0
    rc, out = _run(capsys, str(folder), "--strict", "--trust-torchscript")
    assert rc == 1 and "stray.onnx" in out
