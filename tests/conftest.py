"""Shared fixtures: small shapes keep the model x format x layout matrix fast on 2 cores."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tutorial_reference

SMALL = {"channels": 16, "height": 8, "width": 10}


@pytest.fixture
def small() -> dict[str, int]:
    return dict(SMALL)
