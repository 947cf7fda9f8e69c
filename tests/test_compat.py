"""The compatibility claim stays checkable: every runtime dependency's floor in pyproject.toml is
the version CI installs from constraints/cpu.txt, and the README names those same versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")


def _floors() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for d in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9A-Za-z.]*)", d.strip())
        assert m, f"{d!r}: a floor is the only range claimed (no caps, no markers)"
        out[m.group(1).lower()] = m.group(2)
    return out


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints" / "cpu.txt").read_text().splitlines()
    pairs = (ln.split("==") for ln in lines if ln.strip() and not ln.startswith("#"))
    return {name.strip().lower(): version.strip() for name, version in pairs}


def test_every_floor_is_the_version_ci_tests() -> None:
    pins = _pins()
    assert {k: pins.get(k) for k in _floors()} == _floors()


def test_readme_states_the_tested_versions() -> None:
    section = (ROOT / "README.md").read_text().split("## Compatibility", 1)[1].split("\n## ")[0]
    for name in ("torch", "onnxruntime", "onnx", "onnxscript"):
        assert f"{name} {_pins()[name]}" in section, name
    python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python.startswith(">=") and f"Python {python[2:]}" in section
    assert "CUDA" in section and "untested" in section
