"""The `slow` marker is measured, and `pytest -m "not slow"` is the fast subset it promises.

tests/slow_tests.txt lists the test functions a full run measured as slow (written by
scripts/slow_tests.py); tests/conftest.py marks them. These tests keep the list honest: every
name in it exists (a renamed test would silently lose its mark), and the selection works.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import slow_tests  # noqa: E402
from slow_list import slow_functions  # noqa: E402


def test_every_listed_slow_test_exists() -> None:
    names = slow_functions()
    assert names, "tests/slow_tests.txt lists nothing"
    missing = []
    for name in sorted(names):
        path, func = name.split("::", 1)
        tree = ast.parse((ROOT / path).read_text()) if (ROOT / path).is_file() else None
        defined = {n.name for n in ast.walk(tree)
                   if isinstance(n, ast.FunctionDef)} if tree else set()
        if func not in defined:
            missing.append(name)
    assert not missing, f"stale entries in tests/slow_tests.txt: {missing}"


def test_not_slow_deselects_the_listed_tests() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0",
                        "--co", "-q", "-m", "not slow", "tests/test_concurrency.py"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = "tests/test_concurrency.py::test_two_exports_at_once_both_land"
    assert listed in slow_functions()
    assert listed not in r.stdout and "deselected" in r.stdout


def test_the_list_is_generated_from_measured_durations(tmp_path: Path) -> None:
    out = tmp_path / "durations.txt"
    out.write_text("==== slowest durations ====\n"
                   "3.00s call     tests/test_a.py::test_x[1]\n"
                   "0.50s setup    tests/test_a.py::test_x[2]\n"
                   "1.00s call     tests/test_a.py::test_y\n"
                   "9.00s call     tests/test_b.py::test_z\n")
    other = tmp_path / "other.txt"
    other.write_text("2.50s call     tests/test_a.py::test_y\n")
    dst = tmp_path / "slow.txt"
    assert slow_tests.main([str(out), str(other), "--threshold", "2", "--out", str(dst),
                            "--note", "here"]) == 0
    entries = [ln.split("#")[0].strip() for ln in dst.read_text().splitlines()
               if ln and not ln.startswith("#")]
    assert entries == ["tests/test_b.py::test_z", "tests/test_a.py::test_x",
                       "tests/test_a.py::test_y"]  # slowest first; the slower run counts
    assert "# Measured: here" in dst.read_text()
    empty = tmp_path / "empty.txt"
    empty.write_text("no durations here\n")
    assert slow_tests.main([str(empty), "--out", str(dst)]) == 2


def test_the_docs_say_how_long_and_how_to_run_the_fast_subset() -> None:
    """The run's header points at docs/testing.md; the page says how long and what is fast."""
    page = (ROOT / "docs" / "testing.md").read_text()
    assert 'pytest -m "not slow"' in page and "How long it takes" in page
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0",
                        "--co", "tests/test_slow_marker.py"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert "docs/testing.md" in r.stdout and 'pytest -m "not slow"' in r.stdout
