"""Results files on disk: pytest-benchmark's JSON layout (written and read) and the older
``{"machine", "results"}`` one (read). The records themselves are :mod:`.records`; the layout's
mapping is :mod:`.pbjson`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..artifacts.parsing import max_depth
from ..errors import ArtifactError, first_line
from ..fileio import write_atomic
from ..fileio.bounded import read_bounded
from .pbjson import results_of, to_document
from .records import BenchResult, ResultsFile, ResultsFileError, clean


def write_json(path: str | os.PathLike[str], machine: dict[str, Any],
               results: list[BenchResult], config: dict[str, Any] | None = None, *,
               run: dict[str, Any] | None = None,
               commit: dict[str, Any] | None = None) -> Path:
    """Write pytest-benchmark's layout (``pytest-benchmark compare`` reads it), atomically."""
    path = Path(path)
    doc = to_document(machine, results, config=config, run=run, commit=commit)
    write_atomic(path, json.dumps(clean(doc), indent=1).encode(), make_parents=True)
    return path


RESULTS_MAX_BYTES = 256 << 20  # a sweep's file with every raw sample is a few MB
MAX_NESTING = 64  # bench files are 4 levels deep; json recurses on deeper ones


def read_results(path: str | os.PathLike[str]) -> ResultsFile:
    """A results file in any of the formats: ``bench``'s, the suite's ``--benchmark-json``
    (pytest-benchmark's layout, our fields in ``extra_info``), or the older ``{"machine",
    "results"}`` one. The file is input: read once and bounded (a FIFO or a huge file is
    refused unread), and anything malformed (not JSON, nested too deep, a record that is not
    an object, a text, NaN, negative or infinite timing) is one :class:`ResultsFileError`."""
    path = Path(path)
    try:
        data = read_bounded(path, RESULTS_MAX_BYTES, "results file")
    except ArtifactError as e:
        raise ResultsFileError(str(e).replace(" is missing", ": no such results file")) \
            from None
    try:
        text = data.decode("utf-8")
        depth = max_depth(text)
        if depth > MAX_NESTING:
            raise ValueError(f"nested {depth} levels deep (at most {MAX_NESTING})")
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ResultsFileError(f"{path}: not a JSON results file ({first_line(e)})") from None
    try:
        return _parse(doc)
    except ResultsFileError as e:
        raise ResultsFileError(f"{path}: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as e:
        raise ResultsFileError(f"{path}: malformed results file ({first_line(e)})") from None


def _object(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The first of ``keys`` present in ``doc``, which must be an object (absent: empty)."""
    for k in keys:
        if doc.get(k) is not None:
            if not isinstance(doc[k], dict):
                raise ResultsFileError(f"{k!r} must be an object")
            return dict(doc[k])
    return {}


def _parse(doc: Any) -> ResultsFile:
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        results = results_of(doc)
        ours = _object(doc, "chanattn_export")
        return ResultsFile(_object(doc, "machine_info"), results, _object(doc, "commit_info"),
                           str(doc.get("datetime") or ""), _object(ours, "config"),
                           _object(ours, "run"), str(ours.get("schema") or "pytest-benchmark"))
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ResultsFileError("expected pytest-benchmark's JSON ({\"benchmarks\": [...]}) or "
                               "{\"machine\": ..., \"results\": [...]}")
    results = [BenchResult.from_dict(r, f"results[{i}]") for i, r in enumerate(doc["results"])]
    return ResultsFile(_object(doc, "machine"), results, config=_object(doc, "config"),
                       format=str(doc.get("schema") or "chanattn_export.bench/1"))


def read_json(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[BenchResult]]:
    """(machine, results) from a results file in any format :func:`read_results` reads."""
    f = read_results(path)
    return f.machine, f.results
