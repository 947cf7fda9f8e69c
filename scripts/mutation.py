"""Mutation testing of the modules whose bugs ship wrong models (driven by ``mutation.sh``).

mutmut 3 reads its settings from ``pyproject.toml`` in the folder it runs in and writes the
mutated copy under ``mutants/`` there. So each run works in a scratch folder
(``.mutation/<modules>/``, git-ignored): a fresh copy of the package and the tests, and a
``pyproject.toml`` with a ``[tool.mutmut]`` section naming the chosen modules and the fast
tests that cover them. Results are cached per module set: a re-run only re-tests functions
whose code or tests changed. Nothing is installed.

Score = mutants killed (a test failed, timed out or crashed) / mutants tried. A survivor is a
change to the code that no selected test notices: either a missing test or an equivalent
mutant (listed with its reason in docs/mutation.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "chanattn_export"

# module -> (files to mutate, fast in-process tests that exercise it). Subprocess tests are
# left out: mutmut maps tests to functions by tracing its own process only.
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "parity": (["check/parity.py"], ["tests/test_parity.py"]),
    "validation": (["runtime/validation.py"], ["tests/test_validation.py"]),
    "weights": (["models/weights.py"], ["tests/test_weights.py"]),
    "fileio": (["fileio/__init__.py"], ["tests/test_fileio.py"]),
    "models": (["models/*"], ["tests/test_models*.py", "tests/test_zoo.py", "tests/test_timm.py",
                              "tests/test_onnx_rewrites.py"]),
    "export": (["export/*"], ["tests/test_export_unit.py", "tests/test_lint_rules.py",
                              "tests/test_lint.py", "tests/test_external_data.py"]),
    "artifacts": (["artifacts/*"], ["tests/test_artifacts_unit.py", "tests/test_manifest.py",
                                    "tests/test_verify.py", "tests/test_security.py"]),
    "wire": (["fileio/onnx_wire.py"], ["tests/test_external_data.py"]),
    "verify": (["check/verify.py", "check/recheck.py"],
               ["tests/test_verify_unit.py", "tests/test_verify.py", "tests/test_security.py"]),
}
DESELECT = [  # slow or out-of-process: they cannot be mapped to a mutant
    "tests/test_verify.py::test_cli_one_line_per_problem_exit_1",
]
FOLDER_CACHE = "fixture-cache"  # $CHANATTN_EXPORT_TEST_FOLDER_CACHE, see tests/conftest.py
# "segfault": the test process died of a signal (a mutant of the SIGKILL fault injection makes
# the writer kill itself at every step): the tests did not pass, so the mutant was noticed.
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
NOT_RUN = "not checked"


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def prepare(work: Path, modules: list[str]) -> None:
    """Fresh copy of the sources and tests (mtimes kept, so mutmut's cache stays valid)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in (PKG, "tests"):
        shutil.rmtree(work / name, ignore_errors=True)
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    # The tests' artifact folder is built once per run, by the unmutated code (tests/conftest.py)
    shutil.rmtree(work / FOLDER_CACHE, ignore_errors=True)
    (work / FOLDER_CACHE).mkdir()
    files = [f"{PKG}/{f}" for m in modules for f in GROUPS[m][0]]
    tests = sorted({str(p.relative_to(ROOT)) for m in modules for pattern in GROUPS[m][1]
                    for p in ROOT.glob(pattern)})  # patterns: tests/test_models*.py
    selection = [*tests, "-m", "not slow"] + [a for d in DESELECT for a in ("--deselect", d)]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject)
    # mutmut maps tests to mutants inside its own process: no xdist workers, no timing table
    pyproject = re.sub(r"(?m)^(addopts = .*?) ?-n auto(?: --dist \w+)?", r"\1", pyproject)
    pyproject = re.sub(r"(?m)^(addopts = .*?) ?--durations=\d+", r"\1", pyproject)
    pyproject += (
        "\n[tool.mutmut]\n"
        f'source_paths = ["{PKG}"]\n'
        f"only_mutate = {_toml_list(files)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(selection)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore"]\n'
        # mutmut's CPU-time limit counts test time only, not fixture setup (exports) nor
        # onnxruntime's spinning threads: a generous constant keeps "timeout" for real hangs.
        "timeout_constant = 5.0\n"
    )
    (work / "pyproject.toml").write_text(pyproject, encoding="utf-8")


def mutmut(work: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    code = "import sys; from mutmut.__main__ import cli; sys.exit(cli())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=work, text=True,
                          capture_output=capture, check=False)


def results(work: Path) -> dict[str, str]:
    out = mutmut(work, "results", "--all", "true", capture=True)
    if out.returncode:
        sys.exit(f"mutmut results failed:\n{out.stdout}{out.stderr}")
    found = {}
    for line in out.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status
    return found


def module_of(mutant: str) -> str:
    """``chanattn_export.check.parity.xǁDiffǁneeded_atol__mutmut_3`` ->
    ``chanattn_export.check.parity``."""
    return re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]


def report(found: dict[str, str], show_diffs: bool, work: Path) -> float:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in found.items():
        by_module[module_of(name)][status] += 1
    print(f"\n{'module':<34}{'mutants':>8}{'killed':>8}{'timeout':>8}{'survived':>9}"
          f"{'no tests':>9}{'score':>8}{'not run':>8}")
    total_killed = total = 0
    for mod in sorted(by_module):
        c = by_module[mod]
        n = sum(c.values()) - c["skipped"] - c[NOT_RUN]  # an interrupted run scores what it ran
        k = sum(c[s] for s in KILLED)
        total, total_killed = total + n, total_killed + k
        print(f"{mod:<34}{n:>8}{k - c['timeout']:>8}{c['timeout']:>8}{n - k - c['no tests']:>9}"
              f"{c['no tests']:>9}{100 * k / max(n, 1):>7.1f}%{c[NOT_RUN]:>8}")
    score = 100 * total_killed / max(total, 1)
    print(f"{'total':<34}{total:>8}{total_killed:>16}{'':>18}{score:>7.1f}%")
    alive = sorted(n for n, s in found.items() if s not in KILLED | {"skipped", NOT_RUN})
    print(f"\n{len(alive)} surviving mutants (mutmut show NAME, in {work}):")
    for name in alive:
        print(f"  {name}: {found[name]}")
        if show_diffs:
            print(mutmut(work, "show", name, capture=True).stdout)
    return score


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("modules", nargs="*", metavar="MODULE",
                   help=f"modules to mutate (default all): {' '.join(GROUPS)}")
    p.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")),
                   help="mutants tested at once (default 2, or $MUTATION_JOBS)")
    p.add_argument("--fresh", action="store_true", help="forget cached results first")
    p.add_argument("--diffs", action="store_true", help="print each survivor's diff")
    p.add_argument("--report-only", action="store_true", help="print the last run's results")
    p.add_argument("--min-score", type=float, default=None,
                   help="exit 1 when the score is below this percentage")
    args = p.parse_args(argv)
    unknown = [m for m in args.modules if m not in GROUPS]
    if unknown:
        p.error(f"unknown module {unknown[0]!r}; choose from {' '.join(GROUPS)}")
    if importlib.util.find_spec("mutmut") is None:
        print('error: mutmut is not installed: pip install -e ".[test,mutation]" '
              "-c constraints/cpu.txt", file=sys.stderr)
        return 2
    modules = args.modules or list(GROUPS)
    work = ROOT / ".mutation" / "-".join(modules if args.modules else ["all"])
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
    if not args.report_only:
        cached = (work / "mutants").is_dir()
        prepare(work, modules)
        # One thread per process: mutants already run in parallel, and forked children must
        # not inherit a busy OpenMP pool.
        os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0",
                          CHANATTN_EXPORT_TEST_FOLDER_CACHE=str(work / FOLDER_CACHE))
        jobs = ["--max-children", str(args.jobs)]
        if mutmut(work, "run", *jobs).returncode:
            print("error: mutmut run failed", file=sys.stderr)
            return 2
        # mutmut re-tests only mutants of changed functions; a cached survivor may be killed
        # by a test added since, so survivors of earlier runs are tried again.
        alive = [n for n, st in results(work).items() if st not in KILLED and st != "skipped"]
        if cached and alive and mutmut(work, "run", *jobs, *alive).returncode:
            print("error: mutmut run (re-testing survivors) failed", file=sys.stderr)
            return 2
    score = report(results(work), args.diffs, work)
    if args.min_score is not None and score < args.min_score:
        print(f"score {score:.1f}% is below --min-score {args.min_score}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
