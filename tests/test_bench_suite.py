"""The pytest-benchmark entry points from the repository root, run as a user runs them.

Each test is a subprocess pytest kept cheap: collection only, or one tiny case.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--bench-smoke", "-p", "no:cacheprovider"]


def _case(case_id: str) -> str:
    """One suite case by node id (``-k eca`` would also select ``ceca``)."""
    return f"benchmarks/test_throughput.py::test_throughput[{case_id}]"


def _pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """A fresh pytest, as a user starts it: not marked as an xdist worker of this run
    (pytest-benchmark switches itself off when it sees ``PYTEST_XDIST_WORKER``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))}
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _files(out: str) -> set[str]:
    return {line.split("::")[0].split("/")[0] for line in out.splitlines() if "::" in line}


def test_plain_pytest_collects_the_tests_only() -> None:
    r = _pytest("--co", "-q", "-p", "no:cacheprovider")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _files(r.stdout) == {"tests"}


def test_benchmark_only_at_the_root_collects_the_suite() -> None:
    r = _pytest("--benchmark-only", "--co", "-q", "-p", "no:cacheprovider")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _files(r.stdout) == {"benchmarks"}
    for backend in ("eager", "torchscript", "torch-export", "onnxruntime"):
        assert _case(f"eca-{backend}-cpu-b1") in r.stdout  # the CLI's default backends


def test_benchmark_only_that_runs_no_benchmark_fails() -> None:
    """Only a skipped case selected (no GPU here): a non-zero exit, not "1 skipped" and 0."""
    from chanattn_export.runtime import cuda_available

    if cuda_available():
        pytest.skip("the CUDA case runs where a GPU is present")
    r = _pytest("--benchmark-only", "-q", _case("eca-onnxruntime-cuda-b1"), *TINY)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "no benchmark ran" in r.stdout


def test_one_suite_case_writes_json_that_both_compares_read(tmp_path: Path) -> None:
    """A real suite case: pytest-benchmark's JSON with our fields, no volatile machine_info;
    ``pytest-benchmark compare`` reads it next to ``bench``'s JSON; ``bench --compare`` too."""
    out = tmp_path / "suite.json"
    r = _pytest("--benchmark-only", "-q", _case("eca-onnxruntime-cpu-b1"),
                f"--benchmark-json={out}", *TINY)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    machine = doc["machine_info"]
    assert "load_average" not in machine and "load_average" not in machine["chanattn_export"]
    assert not [k for k in machine.get("cpu", {}) if k.startswith("hz_actual")]
    assert "load_average" in doc["chanattn_export"]["run"]
    (b,) = doc["benchmarks"]
    assert b["extra_info"]["batch_size"] == 1 and b["extra_info"]["p99_ms"] > 0

    sys.path.insert(0, str(ROOT / "tests"))
    from bench_helpers import result

    from chanattn_export.bench.files import write_json
    from chanattn_export.cli import main

    ours = write_json(tmp_path / "bench.json", {}, [result("onnxruntime", 0.0001, batch=1)])
    cmp = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out),
                          str(ours)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr
    assert "eca-onnxruntime-cpu-b1" in cmp.stdout
    assert "cbam-channel-onnxruntime-cpu-b1" in cmp.stdout
    assert main(["bench", "--compare", str(out), str(out), "--fail-slower", "10%"]) == 0


@pytest.mark.skipif(importlib.util.find_spec("pygal") is not None,
                    reason="pygal is installed: --benchmark-histogram works")
def test_histogram_without_pygal_fails_up_front() -> None:
    r = _pytest("--benchmark-only", "--benchmark-histogram", "--co", "-q", "-p",
                "no:cacheprovider")
    assert r.returncode != 0
    assert "pip install 'chanattn_export[histogram]'" in r.stdout + r.stderr


def _selected(*args: str) -> list[str]:
    r = _pytest("--benchmark-only", "--co", "-q", "-p", "no:cacheprovider", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return [ln.split("[", 1)[1].rstrip("]") for ln in r.stdout.splitlines() if "::" in ln]


def test_default_suite_is_the_quick_subset_and_bench_full_the_whole_matrix() -> None:
    """The default `pytest --benchmark-only` times a small subset (a couple of minutes at most
    on 2 cores, measured in benchmarks/NOTES.md), --bench-full every model, backend, device
    and batch size; the rest is deselected, not reported as hundreds of skips."""
    import ast
    from types import SimpleNamespace

    tree = ast.parse((ROOT / "benchmarks" / "test_throughput.py").read_text())
    suite = SimpleNamespace(**{t.id: ast.literal_eval(n.value) for n in tree.body
                               if isinstance(n, ast.Assign) for t in n.targets
                               if isinstance(t, ast.Name) and t.id.isupper()
                               and t.id.endswith(("MODELS", "BATCHES"))})

    from chanattn_export.bench.config import DEFAULT_BACKENDS
    from chanattn_export.registry import list_models
    from chanattn_export.spec import Backend, Device

    quick = _selected()
    want = {f"{m}-{b}-cpu-b{n}" for m in suite.QUICK_MODELS for b in DEFAULT_BACKENDS
            for n in suite.QUICK_BATCHES}
    assert {c for c in quick if "-cpu-" in c} == want
    assert len(suite.QUICK_MODELS) * len(suite.QUICK_BATCHES) < len(list_models()) * 2
    full = _selected("--bench-full")
    assert len(full) == len(list_models()) * len(Backend) * len(Device) * len(suite.BATCHES)
    assert set(quick) < set(full) and any("-compile-" in c for c in full)


def test_docs_carry_no_hand_written_suite_count_or_duration() -> None:
    """A count or duration typed next to the suite's command goes stale ("45 CPU cases, ~80 s"
    while the suite ran 168 cases in 431 s): `--co -q` counts, the run times itself."""
    import re

    stale = re.compile(r"\b\d+\s+(CPU\s+)?cases\b|~\s*\d+\s*(s|min)\b|\b\d+\s*min\b")
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "conftest.py"]
    bad = [f"{p.name}: {ln.strip()}" for p in pages for ln in p.read_text().splitlines()
           if "--benchmark-only" in ln and stale.search(ln)]
    assert not bad, bad
