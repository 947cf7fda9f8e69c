"""One benchmark run end to end, for the CLI: config -> bandwidth -> sweep -> files.

Kept out of ``cli.py`` so the CLI only parses and composes; tests call these directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidSpecError
from ..runtime import devices as runtime_devices
from ..spec import Device, DType
from .config import (
    ALL_BACKENDS,
    DEFAULT_BACKENDS,
    DEFAULT_BATCH_SIZES,
    BenchConfig,
    check_dtype,
    resolve_devices,
)
from .files import write_json
from .machine import default_threads, machine_info
from .records import BenchResult, write_csv
from .roofline import Bandwidth, measure_bandwidth
from .sweep import measure_copy_floors, run_sweep

QUICK_MODEL = "cbam-channel"


def split_list(text: str | None) -> list[str] | None:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; None stays None (meaning: the default)."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InvalidSpecError(f"expected a comma-separated list; got {text!r}")
    return items


def parse_batch_sizes(text: str | None) -> tuple[int, ...] | None:
    items = split_list(text)
    if items is None:
        return None
    try:
        return tuple(int(t) for t in items)
    except ValueError:
        raise InvalidSpecError(f"batch sizes must be integers like 1,8,32; got {text!r}") \
            from None


def make_config(*, models: str | None = None, backends: str | None = None,
                devices: str | None = None, batch_sizes: str | None = None,
                threads: int | None = None, dtype: str = "float32", warmup: int | None = None,
                repeats: int | None = None, stretches: int | None = None,
                quick: bool = False, rotate_inputs: bool = False,
                include_transfer: bool = False, has_cuda: bool | None = None,
                precisions: str | None = None) -> BenchConfig:
    """A validated config from CLI-style strings; ``quick`` shrinks every default."""
    from ..registry import get_model_info, list_models

    names = split_list(models)
    if names is None:
        names = [QUICK_MODEL] if quick else [m.name for m in list_models()]
    for n in names:
        get_model_info(n)  # unknown names fail here, with a hint, before any timing
    bnames = split_list(backends)
    chosen: Sequence[Any] = DEFAULT_BACKENDS if bnames is None else (
        ALL_BACKENDS if bnames == ["all"] else bnames)
    cuda = runtime_devices.cuda_available() if has_cuda is None else has_cuda
    devs = resolve_devices(split_list(devices), cuda)
    dt = DType.parse(dtype, "dtype")
    if dt is DType.FLOAT16 and devices is None and cuda:
        devs = (Device.CUDA,)  # float16 alone means "on the GPU"
    check_dtype(dt, devs)  # type: ignore[arg-type]
    batches = parse_batch_sizes(batch_sizes) or ((1, 8) if quick else DEFAULT_BATCH_SIZES)
    return BenchConfig(
        models=tuple(names), backends=tuple(chosen), devices=devs, batch_sizes=batches,
        threads=default_threads() if threads is None else threads, dtype=dt,
        warmup=(3 if quick else 10) if warmup is None else warmup,
        repeats=(15 if quick else 50) if repeats is None else repeats,
        rotate_inputs=rotate_inputs, include_transfer=include_transfer,
        stretches=(1 if quick else 3) if stretches is None else stretches,
        precisions=tuple(split_list(precisions) or ("fp32",)),
        settle_s=0.2 if quick else 1.0, bandwidth_repeats=3 if quick else 7)


@dataclass
class BenchRun:
    config: BenchConfig
    machine: dict[str, Any]
    results: list[BenchResult]
    bandwidth: dict[str, Bandwidth]
    paths: dict[str, Path] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    commit: dict[str, Any] = field(default_factory=dict)


def run(cfg: BenchConfig, *, on_result: Callable[[BenchResult], None] | None = None,
        say: Callable[[str], None] | None = None) -> BenchRun:
    """Measure bandwidth, then every case. ``on_result`` hears of each finished case and
    ``say`` of each step (the CLI draws progress from both); no output of its own."""
    from ..runtime.devices import torch_threads
    from .machine import base_info, busy_warning, commit_info, run_conditions

    tell = say or (lambda _m: None)
    warning = busy_warning()
    if warning:
        tell(warning)
    conditions = run_conditions()  # before the run: our own threads would raise the load
    with torch_threads(cfg.threads):
        bandwidth = {}
        for d in cfg.devices:
            tell(f"measuring copy bandwidth on {d}")
            bandwidth[d.value] = measure_bandwidth(d.value, repeats=cfg.bandwidth_repeats)
        tell("timing same-working-set copies")
        copy_floors = measure_copy_floors(cfg)
        machine = {**base_info(), **machine_info(cfg.threads)}
    results = run_sweep(cfg, bandwidth, on_result, tell, copy_floors)
    run_info = {**conditions, "bandwidth": {k: v.to_dict() for k, v in bandwidth.items()},
                "rotate_inputs": cfg.rotate_inputs, "include_transfer": cfg.include_transfer,
                "busy_warning": warning}
    return BenchRun(cfg, machine, results, bandwidth, run=run_info, commit=commit_info())


def write(res: BenchRun, out: str | os.PathLike[str], *, plot: bool = True,
          stem: str = "bench") -> dict[str, Path]:
    """JSON, CSV and (unless ``plot`` is False) PNG of one run into folder ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidSpecError(f"--out {out} exists and is not a folder")
    paths = {"json": write_json(out / f"{stem}.json", res.machine, res.results,
                                res.config.to_dict(), run=res.run, commit=res.commit),
             "csv": write_csv(out / f"{stem}.csv", res.results)}
    if plot:
        from ..render.bench import plot_title
        from ..render.plot import plot_throughput

        title = plot_title(res.machine.get("cpu_model", ""), res.config,
                           [str(paths["json"])])
        paths["png"] = plot_throughput(res.results, out / f"{stem}.png", title)
    res.paths = paths
    return paths


def check_output_deps(plot: bool) -> None:
    """Fail before a long run, not after it, when matplotlib is missing."""
    from ._deps import require

    if plot:
        require("matplotlib", "the throughput plot", "or pass --no-plot")
