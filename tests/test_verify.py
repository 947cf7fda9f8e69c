"""`verify DIR`: every file proven against the manifest; one line per problem, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reliability_helpers import (
    ONNX_NAME,
    PT_NAME,
    cli,
    read_manifest,
    resign,
    write_manifest,
)

from chanattn_export.check.verify import WARNING, has_errors, verify_folder
from chanattn_export.cli import main


def _errors(folder: Path) -> list[str]:
    return [str(p) for p in verify_folder(folder, trust_torchscript=True) if p.severity != WARNING]


def test_clean_folder_verifies(folder: Path, capsys) -> None:
    assert verify_folder(folder, trust_torchscript=True) == []
    assert main(["verify", str(folder), "--trust-torchscript"]) == 0
    assert "every file matches" in capsys.readouterr().out


def test_torchscript_is_not_loaded_by_default(folder: Path, capsys) -> None:
    """A TorchScript file is a program: by default verify checks its checksum, never runs it."""
    (warning,) = verify_folder(folder)
    assert warning.severity == WARNING and warning.path == "manifest.json"
    assert f"1 TorchScript file not loaded ({PT_NAME}; " in warning.message
    assert main(["verify", str(folder)]) == 0
    assert "1 warning" in capsys.readouterr().out


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 16] = bytes(b ^ 0xFF for b in data[mid : mid + 16])
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("name", [ONNX_NAME, PT_NAME])
@pytest.mark.parametrize("damage", [_truncate, _flip])
def test_damaged_model_is_named(folder: Path, name: str, damage) -> None:
    damage(folder / name)
    errors = _errors(folder)
    assert len(errors) == 1
    assert errors[0].startswith(name) and "sha256 differs" in errors[0]


@pytest.mark.parametrize("name", [ONNX_NAME, PT_NAME])
def test_damaged_and_resigned_model_fails_to_load(folder: Path, name: str) -> None:
    """Even with matching checksums, a truncated file is reported as unloadable, not a crash."""
    _truncate(folder / name)
    resign(folder, name)
    errors = _errors(folder)
    assert len(errors) == 1 and errors[0].startswith(name)
    assert "not a valid ONNX model" in errors[0] or "not a loadable TorchScript" in errors[0]


def test_damaged_weights_are_named(folder: Path) -> None:
    weights = read_manifest(folder)["artifacts"][0]["weights"]
    _truncate(folder / weights)
    resign(folder, weights)
    errors = _errors(folder)
    assert len(errors) == 1 and weights in errors[0], errors


def test_every_problem_is_collected(folder: Path) -> None:
    _truncate(folder / ONNX_NAME)
    (folder / PT_NAME).unlink()
    errors = _errors(folder)
    assert len(errors) == 2
    assert any(e.startswith(ONNX_NAME) and "sha256" in e for e in errors)
    assert any(e.startswith(PT_NAME) and "missing" in e for e in errors)


def test_checksum_differs(folder: Path) -> None:
    m = read_manifest(folder)
    m["artifacts"][1]["sha256"] = m["artifacts"][1]["files"][0]["sha256"] = "0" * 64
    write_manifest(folder, m)
    errors = _errors(folder)
    assert len(errors) == 1 and errors[0].startswith(m["artifacts"][1]["path"])


@pytest.mark.parametrize("text, expect", [
    ('{"manifest_version": 1, "artifacts": [', "not valid JSON"),
    ("", "not valid JSON"),
    ('[1, 2]', "not a JSON object"),
    ('{"artifacts": []}', "manifest_version"),
    ('{"manifest_version": 1}', "'artifacts'"),
    ('{"manifest_version": 99, "artifacts": []}', "newer than this toolkit"),
])
def test_bad_manifest(folder: Path, text: str, expect: str) -> None:
    (folder / "manifest.json").write_text(text)
    errors = _errors(folder)
    assert len(errors) == 1 and errors[0].startswith("manifest.json") and expect in errors[0]


def test_entry_lacking_fields(folder: Path) -> None:
    m = read_manifest(folder)
    del m["artifacts"][0]["files"]
    write_manifest(folder, m)
    errors = _errors(folder)
    assert len(errors) == 1 and "lacks fields: files" in errors[0]


def test_missing_manifest(tmp_path: Path) -> None:
    assert "missing" in _errors(tmp_path)[0]
    assert "no such folder" in _errors(tmp_path / "nope")[0]


def test_leftover_temp_file_is_a_warning(folder: Path) -> None:
    (folder / ".tmp-model.onnx.abc").write_bytes(b"half")
    problems = verify_folder(folder, trust_torchscript=True)
    assert [p.severity for p in problems] == [WARNING] and not has_errors(problems)


def test_cli_one_line_per_problem_exit_1(folder: Path) -> None:
    _truncate(folder / ONNX_NAME)
    (folder / PT_NAME).unlink()
    res = cli("verify", str(folder))
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(str(folder))]
    assert len(lines) == 2
    assert any(ONNX_NAME in ln for ln in lines) and any(PT_NAME in ln for ln in lines)


def test_cli_newer_manifest_exit_1_without_traceback(folder: Path, capsys) -> None:
    m = read_manifest(folder)
    m["manifest_version"] = 2
    (folder / "manifest.json").write_text(json.dumps(m))
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr()
    assert "newer than this toolkit" in out.out and "Traceback" not in out.out + out.err
