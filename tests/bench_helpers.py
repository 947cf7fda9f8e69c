"""Shared by the bench tests: a record made the way the sweep makes one, from known samples."""

from __future__ import annotations

from chanattn_export.bench.config import BenchConfig, Case
from chanattn_export.bench.derive import make_result
from chanattn_export.bench.records import BenchResult
from chanattn_export.bench.roofline import Bandwidth
from chanattn_export.spec import Backend, Device

REQUIRED = ["model", "backend", "device", "dtype", "batch_size", "threads", "median_ms",
            "iqr_ms", "images_per_s", "gb_per_s", "x_floor"]


def result(backend: str = "eager", median_s: float = 0.002, batch: int = 8) -> BenchResult:
    """A cbam-channel CPU record at 64 x 56 x 56 whose median is ``median_s``."""
    cfg = BenchConfig(models=("cbam-channel",), threads=2)
    samples = [median_s * f for f in (0.9, 1.0, 1.0, 1.1, 3.0)]
    return make_result(cfg, Case("cbam-channel", Backend(backend), Device.CPU, batch),
                       "applied", [samples], Bandwidth("cpu", 10.0, 1 << 28, 1.0, 0.1))
