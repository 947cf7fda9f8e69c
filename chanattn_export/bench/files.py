"""Results files on disk: pytest-benchmark's JSON layout (written and read) and the older
``{"machine", "results"}`` one (read). The records themselves are :mod:`.records`; the layout's
mapping is :mod:`.pbjson`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..fileio import write_atomic
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


def read_results(path: str | os.PathLike[str]) -> ResultsFile:
    """A results file in any of the formats: ``bench``'s, the suite's ``--benchmark-json``
    (pytest-benchmark's layout, our fields in ``extra_info``), or the older ``{"machine",
    "results"}`` one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: no such results file") from None
    except IsADirectoryError:
        raise ResultsFileError(f"{path}: is a folder, not a results file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsFileError(f"{path}: not a JSON results file ({e})") from None
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        try:
            results = results_of(doc)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise ResultsFileError(f"{path}: {e}") from None
        ours = doc.get("chanattn_export") or {}
        return ResultsFile(dict(doc.get("machine_info") or {}), results,
                           dict(doc.get("commit_info") or {}), str(doc.get("datetime") or ""),
                           dict(ours.get("config") or {}), dict(ours.get("run") or {}),
                           str(ours.get("schema") or "pytest-benchmark"))
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ResultsFileError(f"{path}: expected pytest-benchmark's JSON "
                               "({\"benchmarks\": [...]}) or {\"machine\": ..., "
                               "\"results\": [...]}")
    try:
        results = [BenchResult.from_dict(r) for r in doc["results"]]
    except TypeError as e:
        raise ResultsFileError(f"{path}: a result record is incomplete ({e})") from None
    return ResultsFile(dict(doc.get("machine") or {}), results,
                       config=dict(doc.get("config") or {}),
                       format=str(doc.get("schema") or "chanattn_export.bench/1"))


def read_json(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[BenchResult]]:
    """(machine, results) from a results file in any format :func:`read_results` reads."""
    f = read_results(path)
    return f.machine, f.results
