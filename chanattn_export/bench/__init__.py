"""Benchmarks users can trust: timing, roofline, sweep, records, plots, comparisons.

Knows nothing about parity. Data flows one way: config -> sweep (timing + roofline) ->
records -> table / JSON / CSV / plot.
"""

from .compare import Comparison, compare
from .records import BenchResult, ResultsFileError, read_json, write_csv, write_json
from .roofline import Bandwidth, bytes_moved, measure_bandwidth
from .sweep import (
    ALL_BACKENDS,
    DEFAULT_BACKENDS,
    DEFAULT_BATCH_SIZES,
    Backend,
    BenchConfig,
    Device,
    DType,
    run_sweep,
)
from .timing import Stats, summarize, time_calls

__all__ = [
    "ALL_BACKENDS",
    "DEFAULT_BACKENDS",
    "DEFAULT_BATCH_SIZES",
    "Backend",
    "Bandwidth",
    "BenchConfig",
    "BenchResult",
    "Comparison",
    "DType",
    "Device",
    "ResultsFileError",
    "Stats",
    "bytes_moved",
    "compare",
    "measure_bandwidth",
    "read_json",
    "run_sweep",
    "summarize",
    "time_calls",
    "write_csv",
    "write_json",
]
