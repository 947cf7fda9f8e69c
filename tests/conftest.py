"""Shared fixtures: small shapes keep the model x format x layout matrix fast on 2 cores."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tutorial_reference

SMALL = {"channels": 16, "height": 8, "width": 10}


@pytest.fixture
def small() -> dict[str, int]:
    return dict(SMALL)


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Path:
    """A tiny artifact folder (one ONNX, one TorchScript), built once per test session."""
    from reliability_helpers import build_folder

    return build_folder(tmp_path_factory.mktemp("pristine") / "art")


@pytest.fixture
def folder(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the pristine folder, free to corrupt."""
    return Path(shutil.copytree(pristine, tmp_path / "art"))
