"""pytest-benchmark suite setup: options, markers, thread count, machine_info, settling.

Run: ``pytest benchmarks/ --benchmark-only`` (default sweep, CPU, < 3 min on 2 cores);
``--bench-full`` adds torch.compile and batch 64. Not collected by the plain ``pytest`` run
(``testpaths = ["tests"]``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

_state: dict[str, Any] = {"last_backend": None}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("chanattn_export benchmarks")
    g.addoption("--bench-full", action="store_true",
                help="run the full sweep (torch.compile, batch 64); opt-in, slow")
    g.addoption("--bench-threads", type=int, default=None,
                help="threads for torch and onnxruntime alike (default: all cores)")
    g.addoption("--bench-rotate-inputs", action="store_true",
                help="cycle input buffers larger than the last-level cache")
    g.addoption("--bench-settle", type=float, default=1.0,
                help="seconds to pause when the backend changes (default 1.0)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full: only in the opt-in full sweep (--bench-full)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--bench-full"):
        return
    skip = pytest.mark.skip(reason="full sweep only: pass --bench-full")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


def bench_threads(config: pytest.Config) -> int:
    from chanattn_export.bench.machine import default_threads

    return config.getoption("--bench-threads") or default_threads()


def pytest_benchmark_update_machine_info(config: pytest.Config,
                                         machine_info: dict[str, Any]) -> None:
    """Versions, CPU model, thread counts and GPU next to pytest-benchmark's own fields."""
    from chanattn_export.bench.machine import machine_info as info

    extra = info(bench_threads(config))
    machine_info["chanattn_export"] = extra
    machine_info.update({k: extra[k] for k in ("cpu_model", "torch_threads", "gpu")})
    machine_info.update({f"{k}_version": v for k, v in extra["versions"].items()})


@pytest.fixture(scope="session")
def threads(pytestconfig: pytest.Config) -> Any:
    """The bench thread count, set for torch for the whole session and restored afterwards
    (each case also sets it around its timed calls, as the CLI does)."""
    from chanattn_export.runtime.devices import torch_threads

    n = bench_threads(pytestconfig)
    with torch_threads(n):
        yield n


@pytest.fixture(scope="session")
def bandwidth(threads: int) -> dict[str, Any]:
    """Copy bandwidth per device, measured once in the same run as the cases."""
    from chanattn_export.bench.roofline import measure_bandwidth
    from chanattn_export.runtime import cuda_available

    out = {"cpu": measure_bandwidth("cpu", repeats=5)}
    if cuda_available():
        out["cuda"] = measure_bandwidth("cuda", repeats=5)
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
        if exported_now or (last is not None and last != backend):
            time.sleep(pytestconfig.getoption("--bench-settle"))
        _state["last_backend"] = backend

    return _settle
