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
    def from_dict(cls, d: dict[str, Any], where: str = "a result record") -> BenchResult:
        """A record from an untrusted mapping: every field checked (:func:`checked`)."""
        if not isinstance(d, dict):
            raise ResultsFileError(f"{where} is not an object (got {type(d).__name__})")
        names = {f.name for f in fields(cls)}
        missing = [n for n in _REQUIRED if n not in d]
        if missing:
            raise ResultsFileError(f"{where} lacks {', '.join(missing)}")
        return checked(cls(**{k: v for k, v in d.items() if k in names}), where)


_REQUIRED = ("model", "backend", "device", "dtype", "batch_size", "threads", "channels",
             "height", "width", "layout")
_NUMBER = (int, float)


def _bad(where: str, name: str, want: str, value: Any) -> ResultsFileError:
    shown = repr(value)
    return ResultsFileError(f"{where}: {name} must be {want}; got "
                            f"{shown[:40] + '...' if len(shown) > 40 else shown}")


def finite_time(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, _NUMBER) \
            or not math.isfinite(value) or value < 0:
        raise _bad(where, name, "a finite number >= 0", value)
    return float(value)


def checked(r: BenchResult, where: str = "a result record") -> BenchResult:
    """``r`` with every field of its declared type, every time and rate finite and >= 0 and a
    timed median > 0; else :class:`ResultsFileError` naming the field. A results file is input:
    a NaN, negative or text timing must never reach a comparison (NaN compares as "not
    slower") or a table."""
    for f in fields(r):
        v, kind = getattr(r, f.name), str(f.type)
        if kind in ("str", "str | None") and not isinstance(v, str) \
                and not (v is None and kind == "str | None"):
            raise _bad(where, f.name, "a string", v)
        if kind == "bool" and not isinstance(v, bool):
            raise _bad(where, f.name, "true or false", v)
        if kind in ("int", "int | None") and not (v is None and kind == "int | None") and (
                isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise _bad(where, f.name, "an integer >= 0", v)
        if kind == "float | None" and v is not None:
            setattr(r, f.name, finite_time(v, where, f.name))
        if kind == "list[float]":
            if not isinstance(v, list):
                raise _bad(where, f.name, "a list of numbers", v)
            setattr(r, f.name, [finite_time(x, where, f"{f.name}[{i}]") for i, x in enumerate(v)])
    if r.batch_size < 1:
        raise _bad(where, "batch_size", "an integer >= 1", r.batch_size)
    if r.median_ms is not None and r.median_ms <= 0:
        raise _bad(where, "median_ms", "> 0 for a timed case", r.median_ms)
    return r


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
