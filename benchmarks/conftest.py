"""pytest-benchmark suite setup: options, markers, thread count, machine_info, settling.

Run: ``pytest --benchmark-only`` from the repository root: the quick default (the cases
``test_throughput.py`` does not mark ``full``); ``--bench-full`` runs the whole matrix (every
model, backend and batch size). ``pytest --benchmark-only --co -q`` lists what a run will time.
The options are declared in the root ``conftest.py``; a plain ``pytest`` does not collect this
folder (``testpaths = ["tests"]``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

_state: dict[str, Any] = {"last_backend": None}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full: only in the full matrix (--bench-full)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --bench-full the full matrix's cases are deselected (not skipped): a run and
    ``--co`` show what is timed, and the summary counts the rest as deselected."""
    if config.getoption("--bench-full"):
        return
    keep = [item for item in items if "full" not in item.keywords]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if "full" in i.keywords])
        items[:] = keep


def bench_threads(config: pytest.Config) -> int:
    from chanattn_export.bench.machine import default_threads

    return config.getoption("--bench-threads") or default_threads()


def pytest_benchmark_update_machine_info(config: pytest.Config,
                                         machine_info: dict[str, Any]) -> None:
    """Versions, CPU model, thread counts and GPU next to pytest-benchmark's own fields; the
    machine's identity only. pytest-benchmark compares ``machine_info`` whole and warns on any
    difference, so the current clock speed py-cpuinfo reports is dropped and the load average
    goes to the file's ``chanattn_export.run`` block instead."""
    from chanattn_export.bench.machine import machine_info as info

    cpu = machine_info.get("cpu")
    if isinstance(cpu, dict):
        for k in [k for k in cpu if k.startswith("hz_actual")]:
            del cpu[k]
    extra = info(bench_threads(config))
    machine_info["chanattn_export"] = extra
    machine_info.update({k: extra[k] for k in ("cpu_model", "torch_threads", "gpu")})
    machine_info.update({f"{k}_version": v for k, v in extra["versions"].items()})


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any,
                                 output_json: dict[str, Any]) -> None:
    """What this run met (load average, measured bandwidth), outside ``machine_info``."""
    from chanattn_export.bench.machine import run_conditions
    from chanattn_export.bench.records import SCHEMA

    output_json["chanattn_export"] = {
        "schema": SCHEMA, "config": {},
        "run": {**_state["conditions"], "bandwidth": {
            k: v.to_dict() for k, v in (_state.get("bandwidth") or {}).items()}}
        if "conditions" in _state else run_conditions(),
    }


@pytest.fixture(scope="session")
def threads(pytestconfig: pytest.Config) -> Any:
    """The bench thread count, set for torch for the whole session and restored afterwards
    (each case also sets it around its timed calls, as the CLI does)."""
    from chanattn_export.runtime.devices import torch_threads

    n = bench_threads(pytestconfig)
    with torch_threads(n):
        yield n


@pytest.fixture(scope="session")
def bandwidth(threads: int, pytestconfig: pytest.Config) -> dict[str, Any]:
    """Copy bandwidth per device, measured once in the same run as the cases."""
    from chanattn_export.bench.machine import run_conditions
    from chanattn_export.bench.roofline import measure_bandwidth
    from chanattn_export.runtime import cuda_available

    _state["conditions"] = run_conditions()  # before the suite loads the machine itself
    size = {"nbytes": 8 << 20} if pytestconfig.getoption("--bench-smoke") else {}
    out = {"cpu": measure_bandwidth("cpu", repeats=5, **size)}
    if cuda_available():
        out["cuda"] = measure_bandwidth("cuda", repeats=5, **size)
    _state["bandwidth"] = out
    return out


@pytest.fixture(scope="session")
def artifacts() -> dict[str, Any]:
    """Models built and exported once per session, shared by every backend's cases."""
    return {}


@pytest.fixture
def settle(pytestconfig: pytest.Config) -> Any:
    """Pause when the backend changes or a file was just exported (torch work): the previous
    thread pool must park before the first timed call, as in the CLI's sweep."""

    def _settle(backend: str, exported_now: bool = False) -> None:
        last = _state["last_backend"]
        if pytestconfig.getoption("--bench-smoke"):
            pass
        elif exported_now or (last is not None and last != backend):
            time.sleep(pytestconfig.getoption("--bench-settle"))
        _state["last_backend"] = backend

    return _settle
