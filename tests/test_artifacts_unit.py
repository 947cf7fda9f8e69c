"""The artifacts package without exports: commit protocol, folder lock, manifest records and
parsing, SHA256SUMS and signatures on fake model bytes (commit never parses what it writes).

Fast enough for mutation testing (scripts/mutation.py runs this file per mutant).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from chanattn_export import ArtifactError
from chanattn_export.artifacts import (
    FAILED_DIR,
    MANIFEST,
    SUMS,
    TMP_PREFIX,
    ArtifactFolder,
    FileRecord,
    Manifest,
    ManifestEntry,
    parse_manifest,
    parse_top,
    sha256_bytes,
)
from chanattn_export.artifacts import commit as commit_mod
from chanattn_export.artifacts.commit import commit
from chanattn_export.artifacts.folder import oserror, sums_text
from chanattn_export.artifacts.lock import flocked
from chanattn_export.artifacts.manifest import check_path_text
from chanattn_export.artifacts.parsing import MAX_NESTING, check_unique, max_depth
from chanattn_export.spec import Format, InputSpec, Layout, ModelSpec

MODEL = ModelSpec("se", channels=8, ratio=4)


def make(path: str = "se.onnx", data: bytes = b"model-1", weights: bytes = b"weights-1", *,
         model: ModelSpec = MODEL, inp: InputSpec | None = None, kind: str = "same",
         passed: bool = True) -> tuple[ManifestEntry, dict[str, bytes]]:
    """An entry and its files, as an export would hand them to ``commit``."""
    wsha = sha256_bytes(weights)
    wname = f"{Path(path).stem}.{wsha[:12]}.safetensors"
    entry = ManifestEntry.create(
        path=path, data_sha256=sha256_bytes(data), size=len(data), fmt=Format.ONNX,
        model=model, inp=inp or InputSpec(height=4, width=6), output_kind=kind, weights=wname,
        weights_sha256=wsha, exporter="legacy", opset=18, versions={"torch": "x"},
        parity={"passed": passed}, passed=passed, weights_size=len(weights))
    return entry, {path: data, wname: weights}


def committed(tmp_path: Path, *versions: tuple[ManifestEntry, dict[str, bytes]]) -> ArtifactFolder:
    folder = ArtifactFolder(tmp_path / "art")
    for entry, files in versions:
        commit(folder, entry, files)
    return folder


# -- ManifestEntry / FileRecord ----------------------------------------------------------------


def test_create_describes_files_and_dims() -> None:
    e, _ = make(inp=InputSpec(batch=3, height=4, width=6, dynamic_batch=True))
    assert e.model_file == FileRecord("se.onnx", e.sha256, "model", len(b"model-1"))
    assert e.weights_file == FileRecord(e.weights, sha256_bytes(b"weights-1"), "weights", 9)
    assert e.passed and e.status == "passed" and e.exporter == "legacy" and e.opset == 18
    assert e.inputs == ({"name": "input", "dtype": "float32", "dims": ["batch", 8, 4, 6],
                         "shape": [3, 8, 4, 6]},)
    assert e.outputs == ({"name": "output", "dtype": "float32", "dims": ["batch", 8, 4, 6],
                          "kind": "same"},)
    assert not make(passed=False)[0].passed
    assert (e.versions, e.parity, e.fallback_reason) == ({"torch": "x"}, {"passed": True}, None)
    fell_back = ManifestEntry.create(
        path="a.onnx", data_sha256=e.sha256, size=1, fmt=Format.ONNX, model=MODEL,
        inp=InputSpec(), output_kind="same", weights=e.weights, weights_sha256="1" * 64,
        exporter="legacy", opset=18, versions={}, parity={}, passed=True,
        fallback_reason="dynamo exporter failed: x")
    assert fell_back.fallback_reason == "dynamo exporter failed: x"
    assert fell_back.weights_file.size is None


@pytest.mark.parametrize("layout, dims", [("nchw", ["batch", 8, 1, 1]),
                                          ("nhwc", ["batch", 1, 1, 8])])
def test_gate_output_has_unit_spatial_dims(layout: str, dims: list) -> None:
    e, _ = make(model=ModelSpec("se", channels=8, ratio=4, layout=Layout(layout)), kind="gate")
    assert e.outputs[0]["dims"] == dims and e.outputs[0]["kind"] == "gate"
    assert e.inputs[0]["dims"] != dims


def test_entry_round_trips_through_json() -> None:
    e, _ = make()
    e = ManifestEntry(**{**e.__dict__, "fallback_reason": "dynamo exporter failed: x"})
    d = json.loads(json.dumps(e.to_dict()))
    assert ManifestEntry.from_dict(d) == e
    assert d["format"] == "onnx" and d["fallback_reason"] == "dynamo exporter failed: x"
    assert d["files"][0] == {"path": "se.onnx", "sha256": e.sha256, "role": "model", "size": 7}
    assert FileRecord("a", "0" * 64).to_dict() == {"path": "a", "sha256": "0" * 64, "role": ""}


def test_with_parity_sets_the_verdict() -> None:
    e, _ = make()
    failed = e.with_parity({"x": 1}, passed=False)
    assert failed.status == "failed" and failed.parity == {"x": 1} and e.passed
    assert failed.with_parity({}, passed=True).passed


def _bad(change) -> str:
    d = make()[0].to_dict()
    change(d)
    with pytest.raises(ArtifactError) as info:
        ManifestEntry.from_dict(d, 3)
    return str(info.value)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("parity"), "entry se.onnx lacks fields: parity"),
    (lambda d: (d.pop("path"), d.pop("sha256")), "entry artifacts[3] lacks fields: path, sha256"),
    (lambda d: d.update(path=""), "artifacts[3]: 'path' must be a file name"),
    (lambda d: d.update(path=7), "artifacts[3]: 'path' must be a file name"),
    (lambda d: d.update(path="a\nb"), "artifacts[3]: path 'a\\nb' has control characters"),
    (lambda d: d.update(sha256=5), "entry se.onnx: 'sha256' must be a string"),
    (lambda d: d.update(sha256="A" * 64), "entry se.onnx: sha256 must be 64 lowercase hex"),
    (lambda d: d.update(files={}), "entry se.onnx: 'files' must list objects"),
    (lambda d: d["files"].append(dict(d["files"][0])), "entry se.onnx: 'files' lists a path twice"),
    (lambda d: d["files"].pop(0), "entry se.onnx does not list its model in 'files'"),
    (lambda d: d["files"][0].update(sha256="1" * 64), "entry se.onnx: two different sha256"),
    (lambda d: d["files"][1].update(size=-1), "entry se.onnx: file 'se.d6d6b238a083.safetensors' "
                                              "has a bad role or size"),
    (lambda d: d.update(weights=5), "entry se.onnx names no weights file"),
    (lambda d: d.update(weights="other.safetensors"), "entry se.onnx names no weights file"),
    (lambda d: d.update(weights="se.onnx"), "(or names the model as one)"),
    (lambda d: (d["files"][1].update(path="w.safetensors"), d.update(weights="w.safetensors")),
     "entry se.onnx: weights file name 'w.safetensors' does not carry its sha256 prefix"),
    (lambda d: (d["files"][1].update(path="se.000000000000.safetensors"),
                d.update(weights="se.000000000000.safetensors")), "(<stem>.<sha256[:12]>"),
    (lambda d: d.update(format="tflite"), "entry se.onnx: spec is invalid: "),
    (lambda d: d.update(model=[]), "entry se.onnx: spec is invalid: 'model' must be an object"),
    (lambda d: d.update(input="x"), "entry se.onnx: spec is invalid: 'input' must be an object"),
    (lambda d: d["model"].pop("name"), "entry se.onnx: spec is invalid: 'name'"),
    (lambda d: d["model"].update(channels=0), "entry se.onnx: spec is invalid: channels"),
    (lambda d: d["input"].update(height="x"), "entry se.onnx: spec is invalid: height"),
    (lambda d: d.update(status="ok"), "entry se.onnx: status must be 'passed' or 'failed'"),
    (lambda d: d.update(opset="18"), "entry se.onnx: 'opset' must be an integer or null"),
    (lambda d: d.update(opset=True), "entry se.onnx: 'opset' must be an integer or null"),
    (lambda d: d.update(parity=[]), "entry se.onnx: 'parity' and 'versions' must be objects"),
    (lambda d: d.update(versions="x"), "entry se.onnx: 'parity' and 'versions' must be objects"),
    (lambda d: d.update(fallback_reason=1), "entry se.onnx: 'fallback_reason' must be a string"),
    (lambda d: d.update(inputs={}), "entry se.onnx: 'inputs' must be a list of objects"),
    (lambda d: d.update(outputs=[1]), "entry se.onnx: 'outputs' must be a list of objects"),
])
def test_every_bad_field_is_named(change, message: str) -> None:
    assert message in _bad(change)


def test_weights_name_message() -> None:
    e = make()[0]
    sha = e.weights_file.sha256

    def rename(d: dict) -> None:
        d["files"][1]["path"] = d["weights"] = "w.safetensors"

    assert _bad(rename) == (f"entry se.onnx: weights file name 'w.safetensors' does not carry "
                            f"its sha256 prefix {sha[:12]} (<stem>.<sha256[:12]>.safetensors)")


@pytest.mark.parametrize("record, message", [
    ("x", "'files' must list objects with path and sha256"),
    ({"path": "a"}, "'files' must list objects with path and sha256"),
    ({"sha256": "0" * 64}, "'files' must list objects with path and sha256"),
    ({"path": "", "sha256": "0" * 64}, "a path must be a non-empty string"),
    ({"path": "a", "sha256": "0" * 63}, "file 'a': sha256 must be 64 lowercase hex"),
    ({"path": "a", "sha256": "0" * 64, "role": 1}, "file 'a' has a bad role or size"),
    ({"path": "a", "sha256": "0" * 64, "size": -1}, "file 'a' has a bad role or size"),
    ({"path": "a", "sha256": "0" * 64, "size": True}, "file 'a' has a bad role or size"),
    ({"path": "a", "sha256": "0" * 64, "size": 1.0}, "file 'a' has a bad role or size"),
])
def test_bad_file_records(record, message: str) -> None:
    with pytest.raises(ArtifactError, match=r"^where: ") as info:
        FileRecord.from_dict(record, "where")
    assert message in str(info.value)


def test_file_record_defaults_and_zero_size() -> None:
    assert FileRecord.from_dict({"path": "a", "sha256": "0" * 64}, "w") == \
        FileRecord("a", "0" * 64, "", None)
    assert FileRecord.from_dict({"path": "a", "sha256": "0" * 64, "size": 0}, "w").size == 0


def test_entry_defaults_for_optional_fields() -> None:
    d = make()[0].to_dict()
    for k in ("status", "exporter", "opset", "inputs", "outputs", "versions",
              "fallback_reason"):
        d.pop(k)
    e = ManifestEntry.from_dict(d)
    assert (e.status, e.exporter, e.opset, e.inputs, e.outputs, e.versions,
            e.fallback_reason) == ("passed", "", None, (), (), {}, None)
    assert ManifestEntry.from_dict({**d, "versions": {"a": 1}}).versions == {"a": "1"}
    with pytest.raises(ArtifactError, match=r"^artifacts\[2\] is not an object"):
        ManifestEntry.from_dict([], 2)
    with pytest.raises(ArtifactError, match=r"^artifacts\[0\] is not an object"):
        ManifestEntry.from_dict([])


@pytest.mark.parametrize("path", ["", 3, "a\0b", "a\x1fb", "a\x7fb", "x" * 256])
def test_bad_path_texts(path) -> None:
    with pytest.raises(ArtifactError, match=r"^here: "):
        check_path_text(path, "here")


def test_bad_path_is_quoted_short() -> None:
    with pytest.raises(ArtifactError) as info:
        check_path_text("x" * 50 + "\n", "w")
    assert str(info.value) == f"w: path {'x' * 40!r} has control characters or is too long"


def test_path_text_limits() -> None:
    assert check_path_text("x" * 255, "w") == "x" * 255
    assert check_path_text(" ~é", "w") == " ~é"
    with pytest.raises(ArtifactError, match="is too long"):
        check_path_text("é" * 256, "w")


# -- Manifest and parsing ------------------------------------------------------------------------


def test_manifest_operations() -> None:
    a, b = make("b.onnx")[0], make("a.onnx")[0]
    m = Manifest((a, b))
    assert m.get("a.onnx") is b and m.get("zzz") is None
    assert m.without("b.onnx").entries == (b,)
    new_a = a.with_parity({}, passed=False)
    assert m.with_entry(new_a).get("b.onnx") is new_a and len(m.with_entry(new_a).entries) == 2
    doc = json.loads(m.to_json())
    assert [x["path"] for x in doc["artifacts"]] == ["a.onnx", "b.onnx"]
    assert doc["manifest_version"] == 1 and "pending" not in doc
    assert m.to_json().endswith("}\n") and '\n  "artifacts"' in m.to_json()
    p = m.with_pending(new_a)
    assert p.entries == m.entries and p.pending == (new_a,)
    assert json.loads(p.to_json())["pending"] == [new_a.to_dict()]
    assert parse_manifest(p.to_json()) == Manifest((b, a), pending=(new_a,))  # sorted by path
    assert m.replaced([b]).entries == (b,) and m.with_entry(a).pending == ()
    # each derived manifest is a whole one: same version, nothing pending
    assert m.replaced([b]) == Manifest((b,)) and m.without("a.onnx") == Manifest((a,))
    assert m.with_entry(new_a) == Manifest((b, new_a))
    assert p.settled(lambda e: None) == m


def test_settled_applies_only_pending_entries_that_landed() -> None:
    old = make("m.onnx", b"old")[0]
    new = make("m.onnx", b"new")[0]
    other = make("o.onnx", b"o")[0]
    m = Manifest((old,)).with_pending(new)
    assert m.settled(lambda e: sha256_bytes(b"new")).entries == (new,)
    assert m.settled(lambda e: sha256_bytes(b"old")).entries == (old,)
    assert m.settled(lambda e: None) == Manifest((old,))
    added = Manifest((old,), pending=(other,)).settled(lambda e: other.sha256)
    assert added.entries == (old, other) and added.pending == ()


@pytest.mark.parametrize("text, message", [
    ("{", "is not valid JSON ("),
    ("", "truncated or corrupted?"),
    ("[]", "is not a JSON object"),
    ('{"artifacts": []}', "lacks an integer 'manifest_version'"),
    ('{"manifest_version": true, "artifacts": []}', "lacks an integer 'manifest_version'"),
    ('{"manifest_version": "1", "artifacts": []}', "lacks an integer 'manifest_version'"),
    ('{"manifest_version": 2, "artifacts": []}', "version 2 is newer than this toolkit reads (1)"),
    ('{"manifest_version": 0, "artifacts": []}', "version 0 is not a manifest version"),
    ('{"manifest_version": 1}', "lacks an 'artifacts' list"),
    ('{"manifest_version": 1, "artifacts": {}}', "lacks an 'artifacts' list"),
    ('{"manifest_version": 1, "artifacts": [], "pending": {}}', "'pending' must be a list"),
    ("[" * 65 + "]" * 65, "is nested 65 levels deep (at most 64)"),
    ("9" * 5000, "is not valid JSON"),
])
def test_bad_top_levels(text: str, message: str) -> None:
    with pytest.raises(ArtifactError) as info:
        parse_top(text)
    assert message in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("", "is not valid JSON (Expecting value: line 1 column 1 (char 0)); truncated or "
         "corrupted?"),
    ("X" * 70, "is not valid JSON (Expecting value: line 1 column 1 (char 0)); truncated or "
               "corrupted?"),  # letters are no brackets
    ("[X" * 65, "is nested 65 levels deep (at most 64); not a manifest written by this toolkit"),
    ('{"artifacts": []}', "lacks an integer 'manifest_version'"),
    ('{"manifest_version": 3, "artifacts": []}',
     "version 3 is newer than this toolkit reads (1); upgrade chanattn_export"),
    ('{"manifest_version": -1, "artifacts": []}',
     "version -1 is not a manifest version (expected 1)"),
    ('{"manifest_version": 1, "artifacts": 1}', "lacks an 'artifacts' list"),
    ('{"manifest_version": 1, "artifacts": [], "pending": 1}', "'pending' must be a list"),
])
def test_top_level_messages(text: str, message: str) -> None:
    with pytest.raises(ArtifactError) as info:
        parse_top(text)
    assert str(info.value) == message


def test_entry_errors_name_their_index() -> None:
    good = make()[0].to_dict()
    with pytest.raises(ArtifactError, match=r"^artifacts\[1\] is not an object$"):
        parse_manifest(json.dumps({"manifest_version": 1, "artifacts": [good, 5]}))
    with pytest.raises(ArtifactError, match=r"^artifacts\[1\] is not an object$"):
        parse_manifest(json.dumps({"manifest_version": 1, "artifacts": [],
                                   "pending": [good, 5]}))


def test_one_line_of_an_error() -> None:
    from chanattn_export.artifacts.manifest import _one_line

    assert _one_line(ValueError("a\nb")) == "a" and _one_line(ValueError("")) == "ValueError"


def test_top_level_accepted() -> None:
    assert parse_top('{"manifest_version": 1, "artifacts": [1]}') == (1, [1], [])
    assert parse_top('{"manifest_version": 1, "artifacts": [], "pending": [2]}') == (1, [], [2])
    nested = "[" * MAX_NESTING + "]" * MAX_NESTING
    with pytest.raises(ArtifactError, match="is not a JSON object"):
        parse_top(nested)  # 64 levels: decoded, then refused for its type


def test_max_depth_skips_strings() -> None:
    assert max_depth("") == 0 and max_depth("[]") == 1 and max_depth("[{}, [[]]]") == 3
    assert max_depth('["[[[", "\\"[[[", {"a": "}}"}]') == 2
    assert max_depth('"\\\\"[[]]') == 2  # an escaped backslash ends the escape
    assert max_depth("[][][]") == 1


def test_duplicate_entries_are_refused() -> None:
    e = make()[0]
    check_unique([e, make("other.onnx")[0]])
    with pytest.raises(ArtifactError, match=r"^entry se\.onnx appears twice$"):
        check_unique([e, e])
    text = json.dumps({"manifest_version": 1, "artifacts": [e.to_dict(), e.to_dict()]})
    with pytest.raises(ArtifactError, match="appears twice"):
        parse_manifest(text)


# -- the folder ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x", "a/../../x", "a/../x", "\\x", "c:x", "",
                                 "a\0b"])
def test_resolve_refuses_escapes(tmp_path: Path, rel: str) -> None:
    with pytest.raises(ArtifactError, match="manifest path"):
        ArtifactFolder(tmp_path).resolve(rel)


def test_resolve_follows_no_symlink_out(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "link").symlink_to(tmp_path)
    folder = ArtifactFolder(tmp_path / "art")
    with pytest.raises(ArtifactError, match="escapes the artifact folder"):
        folder.resolve("link/x")
    assert folder.resolve("sub/x.onnx") == tmp_path / "art" / "sub" / "x.onnx"


def test_symlink_loop_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ArtifactError, match=r"^manifest path 'loop/x' cannot be resolved: "):
        ArtifactFolder(tmp_path).resolve("loop/x")


def test_disk_sha(tmp_path: Path) -> None:
    folder = committed(tmp_path, make())
    e = folder.read_manifest().entries[0]
    assert folder.disk_sha(e) == e.sha256
    (folder.root / e.path).write_bytes(b"model-1 and more")  # longer than recorded: not hashed
    assert folder.disk_sha(e) is None
    unsized = ManifestEntry(**{**e.__dict__, "files": (FileRecord(e.path, e.sha256),
                                                       e.weights_file)})
    assert folder.disk_sha(unsized) == sha256_bytes(b"model-1 and more")
    (folder.root / e.path).unlink()
    assert folder.disk_sha(e) is None


def test_ensure(tmp_path: Path) -> None:
    ArtifactFolder(tmp_path / "a" / "b").ensure()
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())
    (tmp_path / "f").write_text("x")
    for bad in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(ArtifactError, match=f"^cannot create output folder {bad}: "):
            ArtifactFolder(bad).ensure()
    assert (tmp_path / "f").read_text() == "x"


def test_ensure_asks_for_write_and_search_rights(tmp_path: Path, monkeypatch) -> None:
    asked: list[int] = []

    def access(path, mode):
        asked.append(mode)
        return not mode & os.W_OK

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(ArtifactError) as info:
        ArtifactFolder(tmp_path).ensure()
    assert str(info.value) == f"output folder {tmp_path} is not writable"
    assert asked == [os.W_OK | os.X_OK]


def test_ensure_proves_writability_with_a_temp_file_inside(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    made: list[str] = []
    real = tempfile.mkstemp

    def spy(*a, **kw):
        fd, name = real(*a, **kw)
        made.append(name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    ArtifactFolder(tmp_path).ensure()
    (probe,) = made
    # inside the folder, and named like every temp file, so a killed run's probe is cleaned up
    assert Path(probe).parent == tmp_path and Path(probe).name.startswith(TMP_PREFIX + "probe.")
    assert not Path(probe).exists()

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(ArtifactError) as info:
        ArtifactFolder(tmp_path).ensure()
    assert str(info.value) == f"output folder {tmp_path} is not writable: Read-only file system"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_ensure_refuses_a_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        with pytest.raises(ArtifactError, match="is not writable"):
            ArtifactFolder(ro).ensure()
    finally:
        ro.chmod(0o700)


def test_check_space(tmp_path: Path, monkeypatch) -> None:
    folder = ArtifactFolder(tmp_path)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=2_850_000))
    folder.check_space(2_850_000 - (1 << 20))  # exactly fits with the 1 MiB margin
    with pytest.raises(ArtifactError) as info:
        folder.check_space(2_950_000 - (1 << 20))
    assert str(info.value) == (f"not enough space in {tmp_path}: need 3.0 MB, 2.9 MB free; "
                               "nothing was written")

    def fails(p):
        raise OSError(errno.EIO, "no")

    monkeypatch.setattr(shutil, "disk_usage", fails)
    folder.check_space(1 << 60)  # cannot tell: the writes themselves fail later


def test_a_temp_file_from_this_instant_is_stale_too(tmp_path: Path, monkeypatch) -> None:
    """Under the exclusive lock no live writer has temp files: age 0 is old enough."""
    p = tmp_path / (TMP_PREFIX + "now")
    p.write_bytes(b"x")
    os.utime(p, (1_000_000.0, 1_000_000.0))
    monkeypatch.setattr(time, "time", lambda: 1_000_000.0)
    assert ArtifactFolder(tmp_path).remove_stale_temps() == [p.name]


def test_stale_temps_are_removed(tmp_path: Path) -> None:
    folder = ArtifactFolder(tmp_path)
    (tmp_path / (TMP_PREFIX + "a")).write_bytes(b"x")
    (tmp_path / (TMP_PREFIX + "d")).mkdir()
    (tmp_path / "keep.onnx").write_bytes(b"x")
    assert folder.remove_stale_temps(older_than_s=3600) == []
    assert folder.remove_stale_temps() == [TMP_PREFIX + "a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [TMP_PREFIX + "d", "keep.onnx"]


def test_read_manifest_errors(tmp_path: Path) -> None:
    folder = ArtifactFolder(tmp_path)
    assert folder.read_manifest() == Manifest()
    with pytest.raises(ArtifactError, match=r"no manifest\.json"):
        folder.read_manifest(missing_ok=False)
    (tmp_path / MANIFEST).write_bytes(b"\xff\xfe")
    with pytest.raises(ArtifactError, match=f"^{tmp_path / MANIFEST}: cannot read manifest"):
        folder.read_manifest()
    (tmp_path / MANIFEST).write_text("[]")
    with pytest.raises(ArtifactError) as info:
        folder.read_manifest()
    assert str(info.value) == f"{tmp_path / MANIFEST}: manifest is not a JSON object"


def test_sums_text_format() -> None:
    a, b = make("b.onnx")[0], make("a.onnx", b"other")[0]
    lines = sums_text(Manifest((a, b))).splitlines(keepends=True)
    want = sorted({f.path: f.sha256 for e in (a, b) for f in e.files}.items())
    assert lines == [f"{sha}  {path}\n" for path, sha in want]
    weird = ManifestEntry(**{**a.__dict__, "files": (*a.files, FileRecord("x\\y", "0" * 64))})
    assert "x\\y" not in sums_text(Manifest((weird,)))
    assert sums_text(Manifest()) == ""


def test_update_manifest_rewrites_sums(tmp_path: Path) -> None:
    folder = committed(tmp_path, make())
    folder.update_manifest(lambda m: m.replaced(
        [e.with_parity({"new": 1}, passed=False) for e in m.entries]))
    (e,) = folder.read_manifest().entries
    assert e.status == "failed" and e.parity == {"new": 1}
    assert (folder.root / SUMS).read_text() == sums_text(folder.read_manifest())


def test_update_manifest_write_error_is_one_line(tmp_path: Path, monkeypatch) -> None:
    folder = committed(tmp_path, make())

    def full(manifest) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(folder, "write_sums", full)
    with pytest.raises(ArtifactError) as info:
        folder.update_manifest(lambda m: m)
    assert str(info.value) == (f"cannot update the manifest in {folder.root}: no space left on "
                               "device; nothing was replaced; the folder still holds the "
                               "previous artifact")


def test_unreadable_old_file_is_replaced(tmp_path: Path, monkeypatch) -> None:
    from chanattn_export.artifacts import folder as folder_mod

    (tmp_path / "w.bin").write_bytes(b"old")

    def unreadable(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(folder_mod, "sha256_file", unreadable)
    ArtifactFolder(tmp_path).write_if_changed("w.bin", b"abc", sha256_bytes(b"abc"))
    assert (tmp_path / "w.bin").read_bytes() == b"abc"


def test_write_if_changed_keeps_identical_files(tmp_path: Path) -> None:
    folder = ArtifactFolder(tmp_path)
    folder.write_if_changed("w.bin", b"abc", sha256_bytes(b"abc"))
    before = (tmp_path / "w.bin").stat().st_ino
    folder.write_if_changed("w.bin", b"abc", sha256_bytes(b"abc"))
    assert (tmp_path / "w.bin").stat().st_ino == before  # not rewritten
    (tmp_path / "w.bin").write_bytes(b"abd")
    folder.write_if_changed("w.bin", b"abc", sha256_bytes(b"abc"))
    assert (tmp_path / "w.bin").read_bytes() == b"abc"
    (tmp_path / "w.bin").write_bytes(b"abcd")  # longer: never read past the expected size
    folder.write_if_changed("w.bin", b"abc", sha256_bytes(b"abc"))
    assert (tmp_path / "w.bin").read_bytes() == b"abc"


@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "no space left on device"),
                                        (errno.EDQUOT, "no space left on device"),
                                        (errno.EROFS, "read-only file system")])
def test_oserror_messages(code: int, text: str) -> None:
    msg = str(oserror(OSError(code, "x"), "write into d"))
    assert msg == f"cannot write into d: {text}; nothing was replaced; the folder still holds " \
                  "the previous artifact"
    assert str(oserror(OSError(code, "x"), "w", True)) == (
        f"cannot w: {text}; the new model file is already in place and recorded as pending in "
        "the manifest, so the folder shows the new artifact; free space and export again to "
        "finish")


def test_oserror_names_the_file() -> None:
    assert str(oserror(OSError(errno.EACCES, "Permission denied", "/a/b"), "write")) == \
        "cannot write: Permission denied (/a/b); nothing was replaced; the folder still holds " \
        "the previous artifact"
    assert "cannot w: boom; " in str(oserror(OSError("boom"), "w"))


# -- the commit protocol -------------------------------------------------------------------------


def _assert_folder_holds(folder: ArtifactFolder, *entries: ManifestEntry,
                         files: dict[str, bytes]) -> None:
    m = folder.read_manifest()
    assert sorted(m.entries, key=lambda e: e.path) == sorted(entries, key=lambda e: e.path)
    assert not m.pending
    named = {f.path for e in entries for f in e.files}
    on_disk = {p.name for p in folder.root.iterdir()}
    assert on_disk == named | {MANIFEST, SUMS}
    for name in named:
        assert (folder.root / name).read_bytes() == files[name]
    assert (folder.root / SUMS).read_text() == sums_text(m)


def test_commit_writes_model_weights_manifest_and_sums(tmp_path: Path) -> None:
    entry, files = make()
    folder = ArtifactFolder(tmp_path / "new" / "art")
    assert commit(folder, entry, files) is entry
    _assert_folder_holds(folder, entry, files=files)
    assert json.loads((folder.root / MANIFEST).read_text())["artifacts"] == [entry.to_dict()]


def test_recommit_replaces_the_entry_and_collects_old_weights(tmp_path: Path) -> None:
    other, other_files = make("other.onnx", b"o", b"ow")
    v1, f1 = make()
    folder = committed(tmp_path, (other, other_files), (v1, f1))
    v2, f2 = make(data=b"model-2", weights=b"weights-2")
    commit(folder, v2, f2)
    _assert_folder_holds(folder, other, v2, files={**other_files, **f2})
    assert not (folder.root / v1.weights).exists()


def test_weights_files_shared_by_entries_are_kept(tmp_path: Path) -> None:
    a, fa = make()
    b, _ = make("se.pt", b"ts")
    b = ManifestEntry(**{**b.__dict__, "weights": a.weights,
                         "files": (b.model_file, a.weights_file)})
    folder = committed(tmp_path, (a, fa), (b, {"se.pt": b"ts", a.weights: fa[a.weights]}))
    assert (folder.root / a.weights).is_file()
    user = folder.root / "mine.safetensors"  # not content-addressed: never collected
    user.write_bytes(b"u")
    v2, f2 = make(data=b"m2", weights=b"w2")
    commit(folder, v2, f2)
    assert (folder.root / a.weights).is_file() and user.is_file()  # still named by se.pt


def test_collect_garbage_returns_what_it_removed(tmp_path: Path) -> None:
    folder = committed(tmp_path, make())
    (w,) = [f.path for e in folder.read_manifest().entries for f in e.files
            if f.role == "weights"]
    (folder.root / "mine.safetensors").write_bytes(b"u")
    assert folder.collect_garbage(folder.read_manifest()) == []
    assert folder.collect_garbage(Manifest()) == [w]
    assert sorted(p.name for p in folder.root.iterdir()) == sorted([MANIFEST, SUMS, "se.onnx",
                                                                   "mine.safetensors"])


def test_unchanged_weights_are_not_rewritten(tmp_path: Path) -> None:
    v1, f1 = make()
    folder = committed(tmp_path, (v1, f1))
    inode = (folder.root / v1.weights).stat().st_ino
    commit(folder, *make(data=b"model-2"))  # same weights, new model
    assert (folder.root / v1.weights).stat().st_ino == inode


def test_commit_checks_checksums_before_writing(tmp_path: Path) -> None:
    entry, files = make()
    files[entry.path] = b"changed"
    with pytest.raises(ArtifactError, match=r"^internal: checksum of se\.onnx changed"):
        commit(ArtifactFolder(tmp_path), entry, files)
    assert list(tmp_path.iterdir()) == []


def test_commit_runs_its_steps_in_order(tmp_path: Path, monkeypatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(commit_mod, "fault_hook", seen.append)
    committed(tmp_path, make())
    assert tuple(seen) == commit_mod.STEPS == ("clean", "weights", "stage", "intent", "replace",
                                               "manifest", "sums", "collect")


class Stop(Exception):
    pass


def test_kill_at_env_sigkills_the_writer_at_that_step(tmp_path: Path, monkeypatch) -> None:
    """The fault injection the SIGKILL tests rely on (they run it in a child process)."""
    import signal

    old, old_files = make()
    folder = committed(tmp_path, (old, old_files))
    new, new_files = make(data=b"model-2")
    monkeypatch.setenv(commit_mod.KILL_AT_ENV, "manifest")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            commit(folder, new, new_files)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    monkeypatch.delenv(commit_mod.KILL_AT_ENV)
    assert json.loads((folder.root / MANIFEST).read_text())["pending"] == [new.to_dict()]
    assert folder.read_manifest().entries == (new,)


@pytest.mark.parametrize("step", commit_mod.STEPS)
def test_fault_at_each_step_leaves_old_or_new(tmp_path: Path, monkeypatch, step: str) -> None:
    old, old_files = make()
    folder = committed(tmp_path, (old, old_files))
    new, new_files = make(data=b"model-2", weights=b"weights-2")

    def hook(at: str) -> None:
        if at == step:
            raise Stop(at)

    monkeypatch.setattr(commit_mod, "fault_hook", hook)
    with pytest.raises(Stop):
        commit(folder, new, new_files)
    assert not list(folder.root.glob(TMP_PREFIX + "*"))  # the staged temp file is gone
    (settled,) = folder.read_manifest().entries
    landed = commit_mod.STEPS.index(step) > commit_mod.STEPS.index("replace")
    assert settled == (new if landed else old)
    assert (folder.root / settled.path).read_bytes() == (new_files if landed else
                                                         old_files)[settled.path]
    raw = json.loads((folder.root / MANIFEST).read_text())
    assert bool(raw.get("pending")) == (step in ("replace", "manifest"))
    monkeypatch.setattr(commit_mod, "fault_hook", None)
    commit(folder, new, new_files)  # the next commit tidies up
    _assert_folder_holds(folder, new, files=new_files)


def test_clean_step_removes_dead_temps(tmp_path: Path) -> None:
    folder = committed(tmp_path, make())
    (folder.root / (TMP_PREFIX + "dead")).write_bytes(b"x")
    commit(folder, *make(data=b"m2"))
    assert not (folder.root / (TMP_PREFIX + "dead")).exists()


def test_oserror_during_commit_says_what_is_on_disk(tmp_path: Path, monkeypatch) -> None:
    old, old_files = make()
    folder = committed(tmp_path, (old, old_files))
    new, new_files = make(data=b"model-2")

    def full(at: str) -> None:
        if at == "stage":
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(commit_mod, "fault_hook", full)
    with pytest.raises(ArtifactError) as info:
        commit(folder, new, new_files)
    assert str(info.value) == (f"cannot write into {folder.root}: no space left on device; "
                               "nothing was replaced; the folder still holds the previous "
                               "artifact")

    def full_late(at: str) -> None:
        if at == "manifest":
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(commit_mod, "fault_hook", full_late)
    with pytest.raises(ArtifactError, match="the new model file is already in place"):
        commit(folder, new, new_files)
    assert folder.read_manifest().entries == (new,)


def test_commit_refuses_when_the_disk_is_too_small(tmp_path: Path, monkeypatch) -> None:
    entry, files = make(data=b"m" * 1000)
    usage = shutil.disk_usage(tmp_path)
    need = [0]

    def disk_usage(p):
        return usage._replace(free=need[0])

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    # the files, three manifests' worth of text (intent, final, SHA256SUMS) and a 1 MiB margin
    text = len(Manifest().to_json()) + len(json.dumps(entry.to_dict()))
    need[0] = (1 << 20) + len(files[entry.path]) + len(files[entry.weights]) + 3 * text - 1
    with pytest.raises(ArtifactError, match="not enough space"):
        commit(ArtifactFolder(tmp_path / "a"), entry, files)
    assert list((tmp_path / "a").iterdir()) == []
    need[0] += 1
    commit(ArtifactFolder(tmp_path / "b"), entry, files)


def test_commit_waits_for_the_folder_lock(tmp_path: Path, monkeypatch) -> None:
    folder = committed(tmp_path, make())
    monkeypatch.setattr("chanattn_export.artifacts.folder.LOCK_TIMEOUT_S", 0.05)
    with folder.shared(), pytest.raises(ArtifactError, match="held the folder lock"):
        commit(folder, *make(data=b"m2"))
    with folder.locked(), pytest.raises(ArtifactError, match="held the folder lock"):
        folder.update_manifest(lambda m: m)
    with folder.shared(), folder.shared():  # readers share
        assert folder.read_manifest().entries


def test_keep_failed_stays_out_of_the_manifest(tmp_path: Path) -> None:
    good, good_files = make()
    folder = committed(tmp_path, (good, good_files))
    bad, bad_files = make("bad.onnx", b"bad", passed=False)
    path = commit_mod.keep_failed(folder, bad, bad_files)
    assert path == folder.root / FAILED_DIR / "bad.onnx"
    for name, data in bad_files.items():
        assert (folder.root / FAILED_DIR / name).read_bytes() == data
    record = (folder.root / FAILED_DIR / "bad.onnx.json").read_text()
    assert record == json.dumps(bad.to_dict(), indent=2) + "\n"  # readable, like the manifest
    assert folder.read_manifest().entries == (good,)
    commit_mod.keep_failed(folder, bad, bad_files)  # again: replaced, no error


def test_keep_failed_write_error_is_one_line(tmp_path: Path) -> None:
    folder = ArtifactFolder(tmp_path)
    (tmp_path / FAILED_DIR).write_text("a file where the folder goes")
    with pytest.raises(ArtifactError, match=f"^cannot write into {tmp_path / FAILED_DIR}: "):
        commit_mod.keep_failed(folder, *make())


# -- the lock ------------------------------------------------------------------------------------


@pytest.mark.parametrize("first, second", [(True, True), (True, False), (False, True)])
def test_conflicting_locks_time_out(tmp_path: Path, first: bool, second: bool) -> None:
    with flocked(tmp_path, exclusive=first, timeout_s=1), \
            pytest.raises(ArtifactError) as info, \
            flocked(tmp_path, exclusive=second, timeout_s=0.05):
        pass
    assert str(info.value) == f"{tmp_path}: another process held the folder lock for 0 s"
    with flocked(tmp_path, exclusive=True, timeout_s=0):  # released: taken at once
        pass


def test_lock_is_taken_once_released(tmp_path: Path) -> None:
    held = threading.Event()
    taken: list[float] = []

    def holder() -> None:
        with flocked(tmp_path, exclusive=True, timeout_s=5):
            held.set()
            time.sleep(0.2)

    t = threading.Thread(target=holder)
    t.start()
    held.wait()
    with flocked(tmp_path, exclusive=True, timeout_s=5):
        taken.append(time.monotonic())
    t.join()
    assert taken


def test_lock_of_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=f"^cannot open folder {tmp_path / 'no'} to lock it"), \
            flocked(tmp_path / "no", exclusive=False, timeout_s=1):
        pass


# -- signatures ----------------------------------------------------------------------------------


@pytest.fixture
def signed(tmp_path: Path) -> tuple[ArtifactFolder, Path]:
    """A committed folder, signed; returns it and the public key."""
    pytest.importorskip("cryptography")
    from chanattn_export.artifacts.signing import generate_key, sign_folder

    folder = committed(tmp_path, make())
    key = tmp_path / "keys" / "k.pem"
    key.parent.mkdir()
    pub = generate_key(key)
    assert pub == tmp_path / "keys" / "k.pem.pub" and (key.stat().st_mode & 0o777) == 0o600
    assert sign_folder(folder.root, key) == folder.root / "signature.json"
    return folder, pub


def test_signature_covers_every_file(signed) -> None:
    from chanattn_export.artifacts.signing import SIGNATURE, check_signature, folder_digests

    folder, pub = signed
    assert check_signature(folder.root, pub) == []
    payload = json.loads(json.loads((folder.root / SIGNATURE).read_text())["payload"])
    assert payload["format"] == "chanattn_export-folder-signature" and payload["version"] == 2
    assert payload["files"] == folder_digests(folder.root)
    assert set(payload["files"]) == {p.name for p in folder.root.iterdir()} - {SIGNATURE}
    model = folder.read_manifest().entries[0].path
    (folder.root / model).write_bytes(b"evil")
    (folder.root / SUMS).unlink()
    (folder.root / "sub").mkdir()
    (folder.root / "sub" / "new.onnx").write_bytes(b"x")
    (folder.root / "link").symlink_to(folder.root / MANIFEST)
    assert check_signature(folder.root, pub) == [
        f"{model}: changed since the folder was signed",
        f"{SUMS}: removed since the folder was signed",
        "link: added since the folder was signed (not covered by the signature)",
        "sub/new.onnx: added since the folder was signed (not covered by the signature)",
    ]
    assert folder_digests(folder.root)["link"] == "not-a-regular-file"


def test_signature_problems(signed, tmp_path: Path) -> None:
    from chanattn_export.artifacts.signing import SIGNATURE, check_signature, generate_key

    folder, pub = signed
    sig = folder.root / SIGNATURE
    doc = json.loads(sig.read_text())
    other = generate_key(tmp_path / "keys" / "other.pem")
    (msg,) = check_signature(folder.root, other)
    assert msg.startswith(f"{SIGNATURE}: does not verify with {other}: signed by another key")
    for bad in ({**doc, "payload": doc["payload"].replace("1", "2", 1)},
                {**doc, "signature": "!!"}):
        sig.write_text(json.dumps(bad))
        assert "does not verify" in check_signature(folder.root, pub)[0]
    for bad in ([], {"payload": 1, "signature": ""}, {"payload": "", "signature": 1}):
        sig.write_text(json.dumps(bad))
        assert check_signature(folder.root, pub) == [
            f"{SIGNATURE}: not a signature written by this toolkit"]
    sig.write_text("{")
    assert check_signature(folder.root, pub)[0].startswith(f"{SIGNATURE}: unreadable: ")
    sig.unlink()
    assert check_signature(folder.root, pub) == [
        f"{SIGNATURE}: missing: the folder is not signed (sign DIR --key KEY)"]
    with pytest.raises(ArtifactError, match="is not a PEM public key"):
        check_signature(folder.root, tmp_path / "keys" / "k.pem")


def test_signed_payload_that_is_no_file_list(signed, tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization

    from chanattn_export.artifacts.signing import SIGNATURE, check_signature

    folder, pub = signed
    key = serialization.load_pem_private_key((tmp_path / "keys" / "k.pem").read_bytes(), None)
    for payload in ("[1]", "not json", '{"files": [1]}'):
        doc = {"payload": payload, "signature": base64.b64encode(key.sign(payload.encode()))
               .decode()}
        (folder.root / SIGNATURE).write_text(json.dumps(doc))
        assert check_signature(folder.root, pub) == [
            f"{SIGNATURE}: its payload is not a file list"]


def test_keys_stay_out_of_artifact_folders(signed, tmp_path: Path) -> None:
    from chanattn_export.artifacts.signing import generate_key, sign_folder

    folder, _ = signed
    with pytest.raises(ArtifactError, match="is an artifact folder: keep keys outside it"):
        generate_key(folder.root / "k.pem")
    with pytest.raises(ArtifactError, match="exists; refusing to overwrite a key"):
        generate_key(tmp_path / "keys" / "k.pem")
    shutil.copy(tmp_path / "keys" / "k.pem", folder.root / "k.pem")
    with pytest.raises(ArtifactError, match="is inside the artifact folder"):
        sign_folder(folder.root, folder.root / "k.pem")
    with pytest.raises(ArtifactError, match=r"no manifest\.json"):
        sign_folder(tmp_path / "keys", tmp_path / "keys" / "k.pem")
    with pytest.raises(ArtifactError, match="is not a PEM private key"):
        sign_folder(folder.root, tmp_path / "keys" / "k.pem.pub")
    with pytest.raises(ArtifactError, match=r"^cannot read key "):
        sign_folder(folder.root, tmp_path / "nokey.pem")


def test_signature_file_is_canonical(signed) -> None:
    from chanattn_export.artifacts.signing import SIGNATURE

    folder, _ = signed
    text = (folder.root / SIGNATURE).read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2) + "\n"
    assert doc["algorithm"] == "ed25519" and set(doc) == {"algorithm", "payload", "signature"}
    # the signed payload is canonical JSON: the same folder always gives the same bytes
    assert doc["payload"] == json.dumps(json.loads(doc["payload"]), sort_keys=True)


def test_edited_signature_encoding_fails(signed) -> None:
    from chanattn_export.artifacts.signing import SIGNATURE, check_signature

    folder, pub = signed
    path = folder.root / SIGNATURE
    doc = json.loads(path.read_text())
    doc["signature"] = doc["signature"][:10] + "*" + doc["signature"][10:]  # not base64
    path.write_text(json.dumps(doc))
    (msg,) = check_signature(folder.root, pub)
    assert msg == (f"{SIGNATURE}: does not verify with {pub}: signed by another key, or the "
                   "signature or its file list was edited")


def test_payload_without_a_file_list_covers_no_file(signed, tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization

    from chanattn_export.artifacts.signing import SIGNATURE, check_signature

    folder, pub = signed
    key = serialization.load_pem_private_key((tmp_path / "keys" / "k.pem").read_bytes(), None)
    payload = '{"format": "chanattn_export-folder-signature"}'
    (folder.root / SIGNATURE).write_text(json.dumps(
        {"payload": payload, "signature": base64.b64encode(key.sign(payload.encode())).decode()}))
    problems = check_signature(folder.root, pub)
    assert problems and all(p.endswith("added since the folder was signed (not covered by the "
                                       "signature)") for p in problems)


def test_signature_size_cap(signed) -> None:
    from chanattn_export.artifacts.signing import SIGNATURE, check_signature
    from chanattn_export.fileio.bounded import SIGNATURE_MAX_BYTES as MAX_SIGNATURE_BYTES

    folder, pub = signed
    path = folder.root / SIGNATURE
    path.write_bytes(b"[]" + b" " * (MAX_SIGNATURE_BYTES - 2))  # exactly at the cap: read
    assert check_signature(folder.root, pub) == [
        f"{SIGNATURE}: not a signature written by this toolkit"]
    path.write_bytes(b"[]" + b" " * (MAX_SIGNATURE_BYTES - 1))
    assert check_signature(folder.root, pub) == [
        f"{SIGNATURE}: larger than any signature this toolkit writes"]


def test_unreadable_signature_message(signed) -> None:
    from chanattn_export.artifacts.signing import SIGNATURE, check_signature

    folder, pub = signed
    (folder.root / SIGNATURE).write_text("{")
    assert check_signature(folder.root, pub) == [
        f"{SIGNATURE}: unreadable: Expecting property name enclosed in double quotes: line 1 "
        "column 2 (char 1)"]


def test_signing_takes_the_lock_checking_shares_it(signed, monkeypatch, tmp_path: Path) -> None:
    from chanattn_export.artifacts.signing import check_signature, sign_folder

    folder, pub = signed
    monkeypatch.setattr("chanattn_export.artifacts.folder.LOCK_TIMEOUT_S", 0.05)
    with folder.shared():
        assert check_signature(folder.root, pub) == []  # another reader: fine
        with pytest.raises(ArtifactError, match="held the folder lock"):
            sign_folder(folder.root, tmp_path / "keys" / "k.pem")  # no export may run meanwhile


def test_signing_errors_are_one_line(signed, monkeypatch, tmp_path: Path) -> None:
    from chanattn_export.artifacts import signing

    folder, _ = signed

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(signing, "write_atomic", full)
    with pytest.raises(ArtifactError) as info:
        signing.sign_folder(folder.root, tmp_path / "keys" / "k.pem")
    assert str(info.value) == f"cannot write {folder.root / 'signature.json'}: No space left " \
                              "on device"
    (tmp_path / "afile").write_text("not a folder")  # a missing folder is created; a file is not
    with pytest.raises(ArtifactError) as info:
        signing.generate_key(tmp_path / "afile" / "k.pem")
    assert str(info.value).startswith(f"cannot create the key folder {tmp_path / 'afile'}: ")
    with pytest.raises(ArtifactError) as info:
        signing.sign_folder(folder.root, tmp_path / "nokey.pem")
    assert str(info.value) == f"cannot read key {tmp_path / 'nokey.pem'}: No such file or " \
                              "directory"

    def unreadable(p, limit):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(signing, "sha256_file", unreadable)
    with pytest.raises(ArtifactError, match=r": cannot hash for the signature: \[Errno 13\]"):
        signing.folder_digests(folder.root)


def test_only_ed25519_keys(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from chanattn_export.artifacts.signing import sign_folder

    folder = committed(tmp_path, make())
    key = tmp_path / "ec.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(ArtifactError) as info:
        sign_folder(folder.root, key)
    assert str(info.value) == f"{key} is not an Ed25519 key"


def test_signing_without_cryptography(tmp_path: Path, monkeypatch) -> None:
    import sys

    from chanattn_export.artifacts.signing import generate_key
    from chanattn_export.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives", None)
    with pytest.raises(MissingDependencyError) as info:
        generate_key(tmp_path / "k.pem")
    assert str(info.value) == "signing needs cryptography: pip install 'chanattn_export[sign]'"
