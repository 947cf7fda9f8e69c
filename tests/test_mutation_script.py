"""scripts/mutation.sh stays runnable: its module groups name files and tests that exist, and
the mutmut config it writes parses. (Running mutmut itself is the script's job, not pytest's.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mutation():
    spec = importlib.util.spec_from_file_location("mutation_script", ROOT / "scripts" /
                                                  "mutation.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mutation_script"] = mod
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules["mutation_script"]


def test_every_group_names_existing_sources_and_tests(mutation) -> None:
    for name, (files, tests) in mutation.GROUPS.items():
        for pattern in files:
            assert list((ROOT / mutation.PKG).glob(pattern)), (name, pattern)
        for t in tests:
            assert [p for p in ROOT.glob(t) if p.is_file()], (name, t)
    for node in mutation.DESELECT:
        path, test = node.split("::")
        assert f"def {test}(" in (ROOT / path).read_text(), node


def test_prepared_folder_has_the_sources_tests_and_a_mutmut_section(mutation,
                                                                    tmp_path: Path) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    mutation.prepare(tmp_path, ["parity", "models"])
    assert (tmp_path / "chanattn_export" / "check" / "parity.py").is_file()
    assert (tmp_path / "tests" / "test_parity.py").is_file()
    cfg = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert cfg["only_mutate"] == ["chanattn_export/check/parity.py", "chanattn_export/models/*"]
    selection = cfg["pytest_add_cli_args_test_selection"]
    assert {"tests/test_models.py", "tests/test_parity.py"} <= set(selection)
    assert "not slow" in cfg["pytest_add_cli_args_test_selection"]
    # mutmut maps tests to mutants in its own process: xdist workers (our addopts) would hide
    # every test from it ("could not find any test case for any mutant")
    addopts = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]["addopts"]
    assert "-n" not in addopts.split() and "--dist" not in addopts and "--strict-markers" in addopts
    mutation.prepare(tmp_path, ["fileio"])  # again: the old section is replaced, not doubled
    cfg = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert cfg["only_mutate"] == ["chanattn_export/fileio/__init__.py"]


def test_module_of_a_mutant_name(mutation) -> None:
    assert mutation.module_of("chanattn_export.check.parity.xǁDiffǁneeded_atol__mutmut_3") == \
        "chanattn_export.check.parity"
    assert mutation.module_of("chanattn_export.models.se.x_f__mutmut_1") == \
        "chanattn_export.models.se"
