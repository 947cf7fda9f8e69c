"""Serving a folder it did not write: a server that catches ``ChanAttnError`` never sees another
type. Every manifest field is checked at load (the field named), the model file is read once and
bounded by the size the manifest records, the manifest must describe the graph before the first
``.run``, and a batch too large for memory is an ``InputError``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import ONNX_NAME, child_env, read_manifest, write_manifest

from chanattn_export.errors import ArtifactError, ChanAttnError
from chanattn_export.fileio import sha256_file
from chanattn_export.serving import load_artifact


def _entry(folder: Path) -> tuple[dict, dict]:
    m = read_manifest(folder)
    return m, next(a for a in m["artifacts"] if a["path"] == ONNX_NAME)


def _set(obj: dict, dotted: str, value: object) -> None:
    """``obj[a][b][0][c] = value`` for ``dotted`` = ``a.b.0.c``."""
    *path, last = dotted.split(".")
    for k in path:
        obj = obj[int(k)] if isinstance(obj, list) else obj[k]
    if isinstance(obj, list):
        obj[int(last)] = value
    else:
        obj[last] = value


MALFORMED = [
    ("inputs", [], "inputs must list at least one tensor record"),
    ("inputs.0.name", 3, "inputs[0].name must be a short printable string"),
    ("inputs.0.name", "in\x1b[2Jput", "inputs[0].name must be a short printable string"),
    ("inputs.0.dims", [8, 8, 8], "inputs[0].dims must be a list of 4 ints or names"),
    ("inputs.0.dims", "batch,8,8,8", "inputs[0].dims must be a list of 4"),
    ("inputs.0.dims.1", None, "inputs[0].dims[1] must be an int >= 1 or a name"),
    ("inputs.0.dims.1", -8, "inputs[0].dims[1] must be an int >= 1"),
    ("inputs.0.dims.1", True, "inputs[0].dims[1] must be an int >= 1"),
    ("inputs.0.dims.1", 8.0, "inputs[0].dims[1] must be an int >= 1"),
    ("inputs.0.dtype", ["float32"], "inputs[0].dtype must be a short printable string"),
    ("inputs.0.dtype", "float64", "serving takes float32 inputs"),
    ("outputs", [], "outputs must list at least one tensor record"),
    ("outputs.0.name", None, "outputs[0].name must be a short printable string"),
    ("outputs.0.dims", {"0": "batch"}, "outputs[0].dims must be a list of ints or names"),
    ("parity.checks", 3, "parity.checks must be a list"),
    ("parity.checks", {"a": 1}, "parity.checks must be a list"),
    ("parity.checks.0", 3, "parity.checks[0] must be an object"),
    ("parity.checks.0.needed_atol", "small", "parity.checks[0].needed_atol must be a number"),
    ("parity.checks.0.max_abs", None, "parity.checks[0].max_abs must be a number"),
    ("parity.checks.0.passed", "yes", "parity.checks[0].passed must be true or false"),
    ("parity.checks.0.shape", "1x8x8x8", "parity.checks[0].shape must be a list of ints"),
    ("parity.checks.0.backend", 7, "parity.checks[0].backend must be a short printable"),
    ("parity.atol", "loose", "parity.atol must be a number"),
    ("parity.atol", -1, "parity.atol must be a finite number >= 0"),
    ("parity.passed", False, "its parity record says failed"),
    ("parity.passed", "yes", "parity.passed must be true or false"),
]


@pytest.mark.parametrize(("field", "value", "message"), MALFORMED,
                         ids=[f"{f}={v!r}" for f, v, _ in MALFORMED])
def test_malformed_manifest_fields_are_artifact_errors_naming_the_field(folder, field, value,
                                                                        message):
    m, entry = _entry(folder)
    _set(entry, field, value)
    write_manifest(folder, m)
    with pytest.raises(ArtifactError) as info:
        load_artifact(folder, ONNX_NAME)
    assert message in str(info.value) and "\n" not in str(info.value)


MISMATCHED = [
    ("inputs.0.dims", ["batch", 8, 8, 9], "the graph's input axis 3 is 8, the manifest says 9"),
    ("inputs.0.dims", ["batch", 8, "height", "width"],
     "the graph's input axis 2 is fixed to 8, the manifest declares it dynamic ('height')"),
    ("inputs.0.name", "x", "the graph's input is named 'input', the manifest says 'x'"),
    ("outputs.0.name", "logits", "the graph has no output 'logits'"),
    ("outputs.0.dims", ["batch", 8, 8], "the graph's output has rank 4"),
    ("outputs.0.dims", ["batch", 8, 1, 1], "the graph's output axis 2 is 8, the manifest says 1"),
    ("outputs.0.dtype", "float16", "the graph's output has type float32, the manifest says "
                                   "float16"),
]


@pytest.mark.parametrize(("field", "value", "message"), MISMATCHED,
                         ids=[f"{f}={v!r}" for f, v, _ in MISMATCHED])
def test_the_manifest_must_describe_the_graph_before_any_run(folder, field, value, message):
    """A manifest that lies about the graph used to load, and the lie surfaced as a raw
    onnxruntime error from the first ``.run`` (or a refused valid request)."""
    m, entry = _entry(folder)
    _set(entry, field, value)
    write_manifest(folder, m)
    with pytest.raises(ArtifactError, match="refusing to serve it") as info:
        load_artifact(folder, ONNX_NAME)
    assert message in str(info.value)


def test_a_model_file_larger_than_the_recorded_size_is_refused_unread(folder):
    """The checksum rewritten to match (an attacker's or a tool's edit) but not the size:
    the manifest's size is the cap of the read, so a grown file is refused before reading."""
    model = folder / ONNX_NAME
    size = model.stat().st_size
    with open(model, "ab") as f:
        f.write(b"\0" * 4096)
    m, entry = _entry(folder)
    sha = sha256_file(model)
    entry["sha256"] = sha
    next(f for f in entry["files"] if f["path"] == ONNX_NAME)["sha256"] = sha
    write_manifest(folder, m)
    with pytest.raises(ArtifactError, match=f"more than the {size} allowed; refused without "
                                            "reading it"):
        load_artifact(folder, ONNX_NAME)


SCRIPT = """
import sys
from chanattn_export.errors import ChanAttnError
from chanattn_export.serving import load_artifact
try:
    load_artifact(sys.argv[1], sys.argv[2])
except ChanAttnError as e:
    print(type(e).__name__, e)
"""


@pytest.mark.parametrize("victim", ["model", "manifest"])
def test_a_fifo_in_the_folder_is_refused_without_blocking(folder, victim):
    path = folder / (ONNX_NAME if victim == "model" else "manifest.json")
    if victim == "manifest":
        (folder / "manifest.saved").write_bytes(path.read_bytes())
    path.unlink()
    os.mkfifo(path)
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), ONNX_NAME],
                       capture_output=True, text=True, timeout=60, env=child_env())
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith("ArtifactError ") and "not a regular file (a FIFO)" in p.stdout


OOM = """
import resource, sys
import numpy as np
from chanattn_export.errors import ChanAttnError
from chanattn_export.serving import load_artifact
m = load_artifact(sys.argv[1], sys.argv[2])
x = np.ones((300_000, 8, 8, 8), np.float32)  # 614 MB: fits, but not with its output too
cap = 1500 << 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    m.run(x)
    print("ran")
except ChanAttnError as e:
    print(type(e).__name__, e)
except Exception as e:
    print("RAW", type(e).__module__, type(e).__name__)
"""


def test_a_batch_too_large_for_memory_is_an_input_error(folder):
    p = subprocess.run([sys.executable, "-c", OOM, str(folder), ONNX_NAME], capture_output=True,
                       text=True, timeout=120, env=child_env())
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout.strip()
    if out == "ran":
        pytest.skip("this host's onnxruntime ran a 614 MB batch in 1.5 GB of address space")
    assert out.startswith("InputError ") and "does not fit in memory here" in out, out


def test_every_refusal_is_a_chanattn_error(folder):
    """What a server relies on, over every malformed case above at once: one except clause."""
    for field, value, _ in MALFORMED + MISMATCHED:
        m, entry = _entry(folder)
        saved = json.dumps(m)
        _set(entry, field, value)
        write_manifest(folder, m)
        with pytest.raises(ChanAttnError):
            load_artifact(folder, ONNX_NAME)
        (folder / "manifest.json").write_text(saved)
    model = load_artifact(folder, ONNX_NAME)
    assert model.run(np.zeros((2, 8, 8, 8), np.float32)).shape == (2, 8, 8, 8)
