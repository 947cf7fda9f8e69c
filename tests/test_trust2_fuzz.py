"""Every field of a manifest entry, replaced by values of the wrong type or range: ``inspect``,
``serving.load_artifact`` and ``report`` describe it or refuse it with ``ChanAttnError``, never
another exception (a server catching the package's base class must see every refusal)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from reliability_helpers import read_manifest

from chanattn_export.check.inspect import inspect_path
from chanattn_export.errors import ChanAttnError
from chanattn_export.render.inspect import inspect_json, inspect_text
from chanattn_export.render.report import gather, write_report
from chanattn_export.serving import load_artifact

VALUES = [None, 3, -1, 1e308, True, "x", "\x1b[2J", [], {}, [[[]]], {"a": [1]}, "inf", "nan"]


def _leaves(obj: object, path: tuple = ()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:2]):
            yield from _leaves(v, (*path, i))
    if path:
        yield path


def _set(obj: object, path: tuple, value: object) -> None:
    for k in path[:-1]:
        obj = obj[k]  # type: ignore[index]
    obj[path[-1]] = value  # type: ignore[index]


def test_no_manifest_field_escapes_as_another_exception(pristine, tmp_path):
    work = Path(shutil.copytree(pristine, tmp_path / "art"))
    orig = read_manifest(pristine)
    cases = [(i, p, v) for i, e in enumerate(orig["artifacts"]) for p in _leaves(e)
             for v in VALUES]
    random.Random(0).shuffle(cases)
    readers = {
        "inspect": lambda: json.loads(inspect_json(rec := inspect_path(work)))
        and inspect_text(rec),
        "serving": lambda: load_artifact(work),
        "report": lambda: write_report(gather(work), tmp_path / "r.html"),
    }
    for i, path, value in cases[:120]:
        m = json.loads(json.dumps(orig))
        _set(m["artifacts"][i], path, value)
        (work / "manifest.json").write_text(json.dumps(m))
        for name, read in readers.items():
            try:
                read()
            except ChanAttnError:
                pass
            except Exception as e:  # pragma: no cover - the failure message is the point
                raise AssertionError(f"{name} with artifacts[{i}]{list(path)} = {value!r}: "
                                     f"{type(e).__name__}: {e}") from e
