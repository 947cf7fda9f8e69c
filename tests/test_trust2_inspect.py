"""``inspect`` is what people point at files they do not trust: it never executes a graph unless
asked (and then in a limited child process that Ctrl-C and SIGTERM stop at once), reads each
file once and bounded, shows control characters escaped, and describes a malformed record
instead of crashing."""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_graphs import endless_loop, memory_hog, with_metadata
from reliability_helpers import (
    ONNX_NAME,
    PT_NAME,
    child_env,
    cli,
    read_manifest,
    resign,
    write_manifest,
)

from chanattn_export.check.inspect import inspect_path
from chanattn_export.cli import main


def _one_line(err: str, needle: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err


# -- class 3: no graph runs unless asked; when asked, limited and stoppable ---------------------


def test_inspect_does_not_execute_the_graph_by_default(tmp_path):
    """A valid file of a few hundred bytes whose Loop never ends used to hang ``inspect``."""
    (tmp_path / "loop.onnx").write_bytes(endless_loop())
    p = cli("inspect", str(tmp_path / "loop.onnx"), timeout=60)
    assert p.returncode == 0, p.stderr
    assert "1 nodes" in p.stdout and "lint        clean (static rules only; --run-graph" \
        in p.stdout


def _children_of(pid: int) -> list[int]:
    """Graph-run children of ``pid`` still alive (their argv carries the marker and our pid)."""
    from chanattn_export.check.graph_run import MARKER

    mark = f"{MARKER}-{pid}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if mark in (d / "cmdline").read_bytes():
                    found.append(int(d.name))
            except OSError:
                pass
    return found


def test_run_graph_is_stopped_at_its_wall_time(tmp_path):
    (tmp_path / "loop.onnx").write_bytes(endless_loop())
    t0 = time.monotonic()
    p = cli("inspect", str(tmp_path / "loop.onnx"), "--run-graph", "2", "--json", timeout=120)
    assert p.returncode == 0, p.stderr
    (a,) = json.loads(p.stdout)["artifacts"]
    (problem,) = a["lint"]
    assert problem["rule"] == "unseen-shape" and "did not finish within 2 s" in \
        problem["message"]
    assert time.monotonic() - t0 < 60


def test_run_graph_is_limited_in_memory(tmp_path):
    (tmp_path / "hog.onnx").write_bytes(memory_hog())
    rec = inspect_path(tmp_path / "hog.onnx", run_graph=60)
    (problem,) = rec["artifacts"][0]["lint"]
    assert "needs more memory than the 1 GiB it may use here" in problem["message"]


@pytest.mark.parametrize(("sig", "code", "line"), [
    (signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted")])
def test_ctrl_c_and_sigterm_end_a_running_graph_at_once(tmp_path, sig, code, line):
    (tmp_path / "loop.onnx").write_bytes(endless_loop())
    proc = subprocess.Popen([sys.executable, "-m", "chanattn_export", "inspect",
                             str(tmp_path / "loop.onnx"), "--run-graph", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    try:
        deadline = time.monotonic() + 60
        while not _children_of(proc.pid) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert _children_of(proc.pid), "the graph never started running"
        time.sleep(0.5)  # inside onnxruntime's Loop by now
        t0 = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert err.count("\n") == 1 and err.startswith(line), err
    time.sleep(0.2)
    assert _children_of(proc.pid) == []


def test_run_graph_needs_positive_seconds(tmp_path):
    (tmp_path / "m.onnx").write_bytes(with_metadata({}))
    p = cli("inspect", str(tmp_path / "m.onnx"), "--run-graph", "0")
    assert p.returncode == 2
    _one_line(p.stderr, "--run-graph takes seconds > 0")


# -- classes 1 and 2: one bounded read per file ---------------------------------------------------


def test_each_file_is_read_once(folder, monkeypatch):
    """The bytes hashed are the bytes parsed: each file of the folder is opened exactly once
    (a second open is where a swapped file would slip in)."""
    opened: dict[str, int] = {}
    real_os_open, real_open = os.open, builtins.open

    def count(path: object) -> None:
        p = Path(os.fsdecode(path)) if isinstance(path, (str, bytes, os.PathLike)) else None
        if p is not None and p.parent == folder:
            opened[p.name] = opened.get(p.name, 0) + 1

    def os_open(path, *a, **kw):
        count(path)
        return real_os_open(path, *a, **kw)

    def py_open(path, *a, **kw):
        count(path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", py_open)
    monkeypatch.setattr(io, "open", py_open)
    rec = inspect_path(folder)
    monkeypatch.undo()
    assert {a["path"] for a in rec["artifacts"]} == {ONNX_NAME, PT_NAME}
    weights = {f["path"] for e in read_manifest(folder)["artifacts"] for f in e["files"]}
    assert opened == dict.fromkeys(["manifest.json", *weights], 1), opened


def test_a_fifo_manifest_is_refused_without_blocking(folder):
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    p = cli("inspect", str(folder), timeout=60)
    assert p.returncode == 2
    _one_line(p.stderr, "the manifest is not a regular file (a FIFO); refused without reading")


def test_special_and_oversized_model_files_are_not_read(folder):
    """A FIFO would block the read, /dev/zero and a sparse giant would fill memory: each is
    named and refused unread, and the rest of the folder is still described."""
    (folder / ONNX_NAME).unlink()
    os.mkfifo(folder / ONNX_NAME)
    pt = folder / PT_NAME
    size = pt.stat().st_size
    with open(pt, "r+b") as f:
        f.truncate(2 << 30)  # 2 GiB, sparse: costs nothing on disk
    p = cli("inspect", str(folder), timeout=60)
    assert p.returncode == 0, p.stderr
    assert f"{ONNX_NAME} (onnx): NOT READ: " in p.stdout and "(a FIFO)" in p.stdout
    assert f"{PT_NAME} (torchscript): NOT READ: " in p.stdout
    assert f"has {2 << 30} bytes, more than the {size} allowed" in p.stdout


def test_a_symlink_to_a_device_is_not_read(tmp_path):
    (tmp_path / "zero.onnx").symlink_to("/dev/zero")
    p = cli("inspect", str(tmp_path / "zero.onnx"), timeout=60)
    assert p.returncode == 2
    _one_line(p.stderr, "not a regular file (a character device)")


# -- class 6: control characters are shown escaped -----------------------------------------------


FORGED = "\x1b[2J\x1b[H\rverify artifacts: every file matches the manifest\n"


def test_control_characters_from_the_folder_are_escaped(folder, capsys):
    onnx_file = folder / ONNX_NAME
    onnx_file.write_bytes(with_metadata({"chanattn_export.model": FORGED, "k\x07": "\x9b2J"},
                                        producer="pytorch\x1b]0;owned\x07"))
    resign(folder, ONNX_NAME)
    m = read_manifest(folder)
    entry = next(a for a in m["artifacts"] if a["path"] == ONNX_NAME)
    entry["fallback_reason"] = FORGED
    entry["exporter"] = "dynamo\u202e"
    write_manifest(folder, m)
    assert main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\r\x9b\u202e"), repr(out)
    assert not any(line.startswith("verify") for line in out.splitlines())
    assert "\\x1b[2J\\x1b[H\\x0dverify artifacts: every file matches the manifest\\x0a" in out
    assert "producer pytorch\\x1b]0;owned\\x07" in out and "dynamo\\u202e" in out


def test_verify_lines_escape_control_characters(folder, capsys):
    (folder / f"x{FORGED}.onnx").write_bytes(b"")
    code = main(["verify", str(folder), "--trust-torchscript"])
    out = capsys.readouterr().out
    assert code == 0 and "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].endswith("manifest\\x0a.onnx: warning: not named in "
                                                 "the manifest")


# -- class 7: a malformed record is described, not a traceback -----------------------------------


@pytest.mark.parametrize(("field", "value", "shown"), [
    ("checks", [{"passed": True, "needed_atol": "tiny"}], "parity.checks[0].backend must be"),
    ("checks", [3], "parity.checks[0] must be an object"),
    ("checks", {"0": {}}, "parity.checks must be a list"),
    ("atol", "loose", "parity.atol must be a number"),
    ("passed", "yes", "parity.passed must be true or false"),
])
def test_malformed_parity_records_are_described(folder, capsys, field, value, shown):
    m = read_manifest(folder)
    entry = next(a for a in m["artifacts"] if a["path"] == ONNX_NAME)
    entry["parity"][field] = value
    entry["inputs"][0]["dims"] = "batch,8,8,8"
    write_manifest(folder, m)
    assert main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"  parity      unreadable parity record: {shown}" in out
    assert "  input       malformed manifest record: inputs[0].dims must be a list of" in out
    assert main(["inspect", str(folder), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    parity = next(a for a in rec["artifacts"] if a["path"] == ONNX_NAME)["manifest"]["parity"]
    assert shown in parity["error"] and parity["passed"] is None


def test_a_signed_folder_is_shown_signed(folder, capsys):
    """``sign`` writes signature.json: inspect must not call that folder unsigned."""
    (folder / "signature.json").write_text("{}")
    assert main(["inspect", str(folder)]) == 0
    head = capsys.readouterr().out.splitlines()[0]  # a real one: tests/test_signature_scope.py
    assert "signature: signature.json present" in head and "unsigned" not in head


def _tensor_model(dims: list[int], data_type: int, raw: bytes) -> bytes:
    from onnx import TensorProto, helper

    t = TensorProto(name="shape", data_type=data_type, dims=dims, raw_data=raw)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "shape"], ["output"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 8, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 8, 8, 8])], [t])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]) \
        .SerializeToString()


@pytest.mark.parametrize(("dims", "data_type", "raw"), [
    ([1 << 40], 7, b""),  # int64, dims without data
    ([4], 7, b"\x01\x02"),  # raw data shorter than one element
    ([4], 999, b""),  # an element type that does not exist
], ids=["dims-without-data", "short-raw-data", "unknown-type"])
def test_malformed_tensors_are_linted_not_crashed_on(tmp_path, capsys, dims, data_type, raw):
    (tmp_path / "m.onnx").write_bytes(_tensor_model(dims, data_type, raw))
    assert main(["inspect", str(tmp_path / "m.onnx")]) == 0
    assert "lint        " in capsys.readouterr().out


def test_random_byte_damage_never_escapes_as_another_exception(pristine, tmp_path):
    """Flipped bytes give protobuf strings that are not UTF-8, tensors that do not match their
    dims, graphs that do not parse: inspect describes or refuses each, in the toolkit's terms."""
    import random

    from chanattn_export.errors import ChanAttnError
    from chanattn_export.render.inspect import inspect_json, inspect_text

    src = (pristine / ONNX_NAME).read_bytes()
    rng = random.Random(1)
    for _ in range(150):
        data = bytearray(src)
        for _ in range(rng.randint(1, 12)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        (tmp_path / "m.onnx").write_bytes(bytes(data))
        try:
            rec = inspect_path(tmp_path / "m.onnx")
        except ChanAttnError:
            continue
        inspect_text(rec)
        json.loads(inspect_json(rec))


def test_no_onnxruntime_for_the_child_skips_the_rule(tmp_path, monkeypatch):
    """Where the child process cannot import onnxruntime, the run is skipped, as in-process
    without onnxruntime: not reported as a problem of the graph."""
    from chanattn_export.check import graph_run

    monkeypatch.setattr(graph_run, "_CHILD", graph_run._CHILD.replace(
        "import onnxruntime as ort", "import onnxruntime_not_installed as ort"))
    (tmp_path / "loop.onnx").write_bytes(endless_loop())
    rec = inspect_path(tmp_path / "loop.onnx", run_graph=30)
    assert rec["artifacts"][0]["lint"] == []
