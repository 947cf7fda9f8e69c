"""Repository-root pytest setup: which suite runs, and the benchmark suite's options.

``pytest`` runs ``tests/`` (``testpaths``); ``pytest --benchmark-only`` without paths runs
``benchmarks/`` instead, and fails when no benchmark ran (pytest-benchmark alone would report
"280 skipped" and exit 0). The suite's options live here, not in ``benchmarks/conftest.py``, so
they are known whichever folder pytest starts from. Nothing here imports torch: a plain
``pytest`` stays as fast as before.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent / "benchmarks"
_seen: dict[str, int] = {"benchmarks": 0}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("chanattn_export benchmarks")
    g.addoption("--bench-full", action="store_true",
                help="time the full matrix: every model, every backend (torch.compile too), "
                "batch 1, 8, 32 and 64 (the default is a quick subset); slow")
    g.addoption("--bench-threads", type=int, default=None,
                help="threads for torch and onnxruntime alike (default: all cores)")
    g.addoption("--bench-rotate-inputs", action="store_true",
                help="cycle input buffers larger than the last-level cache")
    g.addoption("--bench-settle", type=float, default=1.0,
                help="seconds to pause when the backend changes (default 1.0)")
    g.addoption("--bench-smoke", action="store_true",
                help="check that the suite runs, not how fast: ~0.02 s per case, no settling, "
                "a small bandwidth copy (numbers not worth keeping)")


def _benchmark_only(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_only", default=False))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto`` (in ``addopts``): the tests spend most of their time tracing
    exports in one Python thread, so two processes on two cores nearly halve the run; more than
    four would only multiply torch's memory. None for benchmarks: a timing needs the machine to
    itself, and pytest-benchmark switches itself off under xdist."""
    if _benchmark_only(config):
        return 0
    return max(1, min(4, os.cpu_count() or 1))


def pytest_configure(config: pytest.Config) -> None:
    no_paths = config.args_source is not pytest.Config.ArgsSource.ARGS
    at_root = Path(config.invocation_params.dir).resolve() == BENCHMARKS.parent.resolve()
    if _benchmark_only(config) and no_paths and at_root:
        # `pytest --benchmark-only` at the root: the suite. (Not only when testpaths applied:
        # `--benchmark-json out.json` with an existing out.json makes pytest take the file
        # for a path when it looks for the rootdir, and testpaths is then ignored.)
        config.args = [str(BENCHMARKS)]
    if config.getoption("benchmark_histogram", default=None):
        try:
            import pygal  # noqa: F401
            import pygaljs  # noqa: F401
        except ImportError:
            raise pytest.UsageError(
                "--benchmark-histogram needs pygal and pygaljs: "
                "pip install 'chanattn_export[histogram]'") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say up front that the whole suite takes minutes, and how to run the fast part."""
    if _benchmark_only(config) or config.getoption("markexpr", default=""):
        return []
    return ["chanattn_export: the whole suite takes minutes on a 2-core machine "
            "(docs/testing.md); the fast subset: pytest -m \"not slow\""]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Count the collected benchmarks that will run (not skipped)."""
    _seen["benchmarks"] = sum(
        1 for item in items
        if "benchmark" in getattr(item, "fixturenames", ())
        and not any(m.name == "skip" for m in item.iter_markers()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """``--benchmark-only`` that ran (or, with ``--collect-only``, selected) no benchmark is a
    failure: a gate that measured nothing must not pass."""
    config = session.config
    bs = getattr(config, "_benchmarksession", None)
    if not _benchmark_only(config) or bs is None or bs.disabled:
        return
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    ran = _seen["benchmarks"] if config.getoption("collectonly") else len(bs.benchmarks)
    if ran:
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line("ERROR: --benchmark-only: no benchmark ran (none was collected, or every "
                      "one was deselected or skipped)", red=True)
    session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
