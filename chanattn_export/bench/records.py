"""Result records and their files: JSON in pytest-benchmark's layout (:mod:`.pbjson`), and CSV.

Records are numbers, never formatted strings; raw samples travel in the JSON only (a CSV cell
is no place for a list). :func:`read_json` also reads the suite's ``--benchmark-json`` files
and the older ``{"machine": ..., "results": [...]}`` files. Files go through
:func:`~chanattn_export.fileio.write_atomic`, so an interrupted run never leaves a
half-written result that ``--compare`` would later misread.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ArtifactError
from ..fileio import write_atomic

SCHEMA = "chanattn_export.bench/2"


class ResultsFileError(ArtifactError):
    """A results file is missing, not JSON, or not in this toolkit's format."""


@dataclass
class BenchResult:
    """One (model, backend, device, dtype, batch) case. Times in ms; None where not timed.

    A case that was not timed says why: ``skipped`` (it cannot run here, e.g. no GPU) or
    ``error`` (it failed; the first line of the exception).
    """

    model: str
    backend: str
    device: str
    dtype: str
    batch_size: int
    threads: int
    channels: int
    height: int
    width: int
    layout: str
    median_ms: float | None = None
    iqr_ms: float | None = None
    q1_ms: float | None = None
    q3_ms: float | None = None
    min_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    n_samples: int = 0
    warmup: int = 0
    images_per_s: float | None = None
    bytes_moved: int | None = None
    gb_per_s: float | None = None
    floor_ms: float | None = None
    x_floor: float | None = None
    copy_ms: float | None = None  # a copy of the same working set, same cache state, same run
    x_copy: float | None = None  # median / copy_ms (bench/roofline.py says what each means)
    bandwidth_gb_s: float | None = None
    rotate_inputs: bool = False
    input_buffers: int = 1
    include_transfer: bool = False
    timer: str = ""
    skipped: str | None = None
    error: str | None = None
    stretch_medians_ms: list[float] = field(default_factory=list)
    samples_ms: list[float] = field(default_factory=list)
    precision: str = "fp32"  # the onnxruntime file's: fp32, fp16 or int8 (older files: fp32)

    @property
    def label(self) -> str:
        """The backend, with the file's precision where it is not fp32 (onnxruntime:int8)."""
        return self.backend if self.precision == "fp32" else f"{self.backend}:{self.precision}"

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        """What makes two records the same case across runs (threads are shown, not matched)."""
        return (self.model, self.label, self.device, self.dtype, self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


CSV_FIELDS = [f.name for f in fields(BenchResult)
              if f.name not in ("samples_ms", "stretch_medians_ms")]


def clean(v: Any) -> Any:
    """NaN/inf are not JSON: store them as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v


@dataclass
class ResultsFile:
    """What a results file holds: the machine, the records, and where and when they ran."""

    machine: dict[str, Any]
    results: list[BenchResult]
    commit: dict[str, Any] = field(default_factory=dict)
    datetime: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    format: str = SCHEMA


def write_csv(path: str | os.PathLike[str], results: list[BenchResult]) -> Path:
    path = Path(path)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow({k: ("" if v is None else v) for k, v in r.to_dict().items()})
    write_atomic(path, buf.getvalue().encode(), make_parents=True)
    return path
