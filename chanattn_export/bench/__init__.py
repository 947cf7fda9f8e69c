"""Benchmarks users can trust: timing, roofline, sweep, records, plots, comparisons.

Knows nothing about parity. Data flows one way: config (the cases) -> backends (a case ready
to time) -> sweep (the loop; timing + roofline) -> derive (a record from raw samples) ->
records (JSON in pytest-benchmark's layout / CSV). Tables and the plot are rendered in
``chanattn_export.render``.
"""

from ..spec import Backend, Device, DType  # the shared vocabulary, re-exported
from .compare import Comparison, compare
from .config import ALL_BACKENDS, DEFAULT_BACKENDS, DEFAULT_BATCH_SIZES, BenchConfig, Case, plan
from .files import read_json, read_results, write_json
from .records import BenchResult, ResultsFile, ResultsFileError, write_csv
from .roofline import Bandwidth, bytes_moved, measure_bandwidth
from .sweep import run_sweep
from .timing import Stats, summarize, time_calls

__all__ = [
    "ALL_BACKENDS",
    "DEFAULT_BACKENDS",
    "DEFAULT_BATCH_SIZES",
    "Backend",
    "Bandwidth",
    "BenchConfig",
    "BenchResult",
    "Case",
    "Comparison",
    "DType",
    "Device",
    "ResultsFile",
    "ResultsFileError",
    "Stats",
    "bytes_moved",
    "compare",
    "measure_bandwidth",
    "plan",
    "read_json",
    "read_results",
    "run_sweep",
    "summarize",
    "time_calls",
    "write_csv",
    "write_json",
]
