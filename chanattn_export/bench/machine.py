"""What a result was measured on: versions, CPU, threads, GPU, caches.

Shared by the CLI's JSON and the pytest-benchmark ``machine_info`` hook, so results from two
machines or two versions carry the same fields and can be compared. ``machine_info`` is the
machine's identity only: pytest-benchmark compares it whole and warns on any difference, so
values that change from run to run (the load average) are in :func:`run_conditions` instead.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .roofline import last_level_cache_bytes


def cpu_model() -> str:
    """CPU brand string from /proc/cpuinfo (py-cpuinfo is slow to import), else platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> dict[str, Any] | None:
    """Name, memory and capability of CUDA device 0, or None when torch sees no GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(0)
    return {"name": p.name, "memory_gib": round(p.total_memory / (1 << 30), 1),
            "capability": f"{p.major}.{p.minor}", "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda}


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """Everything that changes a timing and is not part of the case itself."""
    import torch

    from ..environment import versions

    info: dict[str, Any] = {
        "versions": versions(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "llc_bytes": last_level_cache_bytes(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "bench_threads": threads,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "gpu": gpu_info(),
    }
    try:
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        info["onnxruntime_providers"] = []
    return info


def base_info() -> dict[str, Any]:
    """The fields pytest-benchmark's own ``machine_info`` starts with (minus py-cpuinfo's
    dict, whose current clock speed changes between runs)."""
    return {"node": platform.node(), "processor": platform.processor(),
            "machine": platform.machine(), "python_compiler": platform.python_compiler(),
            "python_implementation": platform.python_implementation(),
            "python_version": platform.python_version(), "release": platform.release(),
            "system": platform.system()}


def run_conditions() -> dict[str, Any]:
    """What this run met and the next one will not: kept out of ``machine_info``."""
    return {"load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def commit_info(where: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The git commit of the code that measured (the package's checkout), when it is one;
    pytest-benchmark's ``commit_info`` fields. ``id`` is None outside a git checkout."""
    from .._version import __version__

    cwd = Path(where) if where is not None else Path(__file__).resolve().parents[2]
    info: dict[str, Any] = {"id": None, "time": None, "author_time": None, "dirty": None,
                            "project": "chanattn_export", "branch": None,
                            "version": __version__}
    if not (cwd / ".git").exists():
        return info
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return info
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    info.update(id=commit, time=_git(["show", "-s", "--format=%cI", "HEAD"], cwd),
                author_time=_git(["show", "-s", "--format=%aI", "HEAD"], cwd),
                dirty=bool(status) if status is not None else None,
                branch=_git(["rev-parse", "--abbrev-ref", "HEAD"], cwd))
    return info


def default_threads() -> int:
    """All cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def busy_warning(cores: int | None = None) -> str | None:
    """A warning when other processes already load the CPU: their threads stall our barriers.

    On 2 cores a concurrent test run turned 0.08 ms cases into 24 ms ones (scheduler quanta).
    """
    if not hasattr(os, "getloadavg"):
        return None
    load = os.getloadavg()[0]
    cores = cores or default_threads()
    if load > 0.5 * cores:
        return (f"warning: load average {load:.2f} on {cores} cores before the run; other "
                f"processes will distort these timings")
    return None
