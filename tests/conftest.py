"""Shared fixtures: small shapes keep the model x format x layout matrix fast on 2 cores."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tutorial_reference

SMALL = {"channels": 16, "height": 8, "width": 10}


@pytest.fixture
def small() -> dict[str, int]:
    return dict(SMALL)


# scripts/mutation.py sets this to a folder of its own: mutmut runs a new pytest session per
# mutant, and building the folder (an export) would cost more than the tests that use it.
FOLDER_CACHE_ENV = "CHANATTN_EXPORT_TEST_FOLDER_CACHE"


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Path:
    """A tiny artifact folder (one ONNX, one TorchScript), built once per test session (or once
    per mutation run, see ``FOLDER_CACHE_ENV``)."""
    from reliability_helpers import build_folder

    cache = os.environ.get(FOLDER_CACHE_ENV)
    # Only an unmutated run may fill the cache: a mutant of the exporter or the artifact writer
    # would otherwise hand its broken folder to every later mutant's tests.
    mutant = "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", "")
    if not cache or (mutant and not (Path(cache) / "art").is_dir()):
        return build_folder(tmp_path_factory.mktemp("pristine") / "art")
    done = Path(cache) / "art"
    if not done.is_dir():
        tmp = Path(cache) / f"building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        build_folder(tmp / "art")
        os.replace(tmp / "art", done)  # atomic: a concurrent worker never sees half a folder
        shutil.rmtree(tmp, ignore_errors=True)
    return done


@pytest.fixture
def folder(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the pristine folder, free to corrupt."""
    return Path(shutil.copytree(pristine, tmp_path / "art"))


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the measured-slow functions ``slow``: ``pytest -m "not slow"`` is the fast subset."""
    from slow_list import slow_functions

    slow = slow_functions()
    for item in items:
        if item.nodeid.split("[", 1)[0] in slow:
            item.add_marker(pytest.mark.slow)
