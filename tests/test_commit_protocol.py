"""The commit protocol under faults delivered at each of its steps.

After a fault at any step, by an exception, a failing ``os.replace`` / ``fsync`` or a SIGKILL,
the folder passes ``verify`` and shows the old artifact or the new one, never a mix and never an
empty folder. The new artifact is prepared once (a second export into another folder) and then
committed directly, so each fault costs no export.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from reliability_helpers import ONNX_NAME, TINY, child_env, read_manifest

from chanattn_export import ArtifactError, api
from chanattn_export.artifacts import ArtifactFolder, ManifestEntry
from chanattn_export.artifacts import commit as commit_mod
from chanattn_export.artifacts.commit import KILL_AT_ENV, STEPS, commit
from chanattn_export.check.verify import has_errors, verify_folder
from chanattn_export.fileio import sha256_file


class Fault(Exception):
    pass


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict:
    """An exported folder (old artifact) and the entry + bytes of a different one (new)."""
    base = tmp_path_factory.mktemp("commit")
    old, new = base / "old", base / "new"
    # the legacy exporter: the protocol does not depend on how the bytes were made (cheaper)
    api.export_onnx("cbam-channel", out=old, exporter="legacy", **TINY)
    api.export_onnx("cbam-channel", out=new, seed=1, exporter="legacy", **TINY)
    (entry,) = ArtifactFolder(new).read_manifest().entries
    files = {f.path: (new / f.path).read_bytes() for f in entry.files}
    old_sha = sha256_file(old / ONNX_NAME)
    assert old_sha != entry.sha256
    return {"old": old, "entry": entry, "files": files, "old_sha": old_sha, "base": base}


def _copy(versions: dict, tmp_path: Path) -> Path:
    return Path(shutil.copytree(versions["old"], tmp_path / "art"))


def assert_old_or_new(folder: Path, versions: dict) -> str:
    """verify passes, and the model file plus its settled entry are one of the two versions."""
    problems = verify_folder(folder)
    assert not has_errors(problems), [str(p) for p in problems]
    (entry,) = ArtifactFolder(folder).read_manifest().entries
    on_disk = sha256_file(folder / ONNX_NAME)
    assert entry.sha256 == on_disk
    assert on_disk in (versions["old_sha"], versions["entry"].sha256)
    return "old" if on_disk == versions["old_sha"] else "new"


def _finish_cleanly(folder: Path, versions: dict) -> None:
    """The next commit after a fault tidies up: no pending entry, no temp file, sums right."""
    commit(ArtifactFolder(folder), versions["entry"], versions["files"])
    assert assert_old_or_new(folder, versions) == "new"
    assert "pending" not in read_manifest(folder)
    assert verify_folder(folder) == []
    names = sorted(p.name for p in folder.iterdir())
    files = [f.path for f in versions["entry"].files]  # model, weights, evidence
    assert names == sorted(["manifest.json", "SHA256SUMS", *files]) and ONNX_NAME in files


@pytest.mark.parametrize("step", STEPS)
def test_exception_at_each_step_leaves_old_or_new(versions: dict, tmp_path: Path,
                                                  monkeypatch, step: str) -> None:
    folder = _copy(versions, tmp_path)

    def hook(at: str) -> None:
        if at == step:
            raise Fault(at)

    monkeypatch.setattr(commit_mod, "fault_hook", hook)
    with pytest.raises(Fault):
        commit(ArtifactFolder(folder), versions["entry"], versions["files"])
    monkeypatch.setattr(commit_mod, "fault_hook", None)
    seen = assert_old_or_new(folder, versions)
    assert seen == ("old" if STEPS.index(step) <= STEPS.index("replace") else "new")
    _finish_cleanly(folder, versions)


def _count_calls(name: str, versions: dict, tmp_path: Path, monkeypatch) -> int:
    folder = Path(shutil.copytree(versions["old"], tmp_path / "count"))
    calls = []
    real = getattr(os, name)
    monkeypatch.setattr(os, name, lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    commit(ArtifactFolder(folder), versions["entry"], versions["files"])
    monkeypatch.setattr(os, name, real)
    return len(calls)


@pytest.mark.parametrize("name", ["replace", "fsync"])
def test_failing_os_call_at_each_position_leaves_old_or_new(versions: dict, tmp_path: Path,
                                                            monkeypatch, name: str) -> None:
    """The k-th os.replace / os.fsync of a commit fails (EIO), for every k. (A folder's fsync is
    best effort: where it fails the commit goes on.)"""
    n = _count_calls(name, versions, tmp_path, monkeypatch)
    assert n >= 3
    real = getattr(os, name)
    raised = 0
    for k in range(n):
        folder = Path(shutil.copytree(versions["old"], tmp_path / f"{name}{k}"))
        calls = []

        def failing(*a, _k=k, calls=calls, **kw):
            calls.append(1)
            if len(calls) == _k + 1:
                raise OSError(errno.EIO, "Input/output error")
            return real(*a, **kw)

        monkeypatch.setattr(os, name, failing)
        try:
            commit(ArtifactFolder(folder), versions["entry"], versions["files"])
        except ArtifactError as e:
            assert "Input/output error" in str(e)
            raised += 1
        finally:
            monkeypatch.setattr(os, name, real)
        assert_old_or_new(folder, versions)
    assert raised >= (n if name == "replace" else 3)


CHILD = """
import json, sys
from pathlib import Path
from chanattn_export.artifacts import ArtifactFolder, ManifestEntry
from chanattn_export.artifacts.commit import commit
spec = json.loads(Path(sys.argv[2]).read_text())
entry = ManifestEntry.from_dict(spec["entry"])
files = {k: Path(v).read_bytes() for k, v in spec["files"].items()}
commit(ArtifactFolder(sys.argv[1]), entry, files)
"""


def _spec_file(versions: dict) -> Path:
    base = versions["base"]
    spec = base / "new-entry.json"
    if not spec.exists():
        files = {}
        for name, data in versions["files"].items():
            (base / ("bytes-" + name)).write_bytes(data)
            files[name] = str(base / ("bytes-" + name))
        spec.write_text(json.dumps({"entry": versions["entry"].to_dict(), "files": files}))
    return spec


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_leaves_old_or_new(versions: dict, tmp_path: Path,
                                                step: str) -> None:
    folder = _copy(versions, tmp_path)
    env = {**child_env(), KILL_AT_ENV: step}
    res = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(_spec_file(versions))],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == -9, res.stderr  # killed at that step, no cleanup ran
    seen = assert_old_or_new(folder, versions)
    assert seen == ("old" if STEPS.index(step) <= STEPS.index("replace") else "new")
    _finish_cleanly(folder, versions)


def test_verify_during_reexports_sees_old_or_new(versions: dict, tmp_path: Path,
                                                 monkeypatch) -> None:
    """Readers hold the folder's shared lock: a verify never sees one commit's manifest with
    another's model file (bounded in time; a slow disk is simulated so the window is wide)."""
    folder = _copy(versions, tmp_path)
    real_resolve = ArtifactFolder.resolve

    def slow_resolve(self, rel):
        time.sleep(0.01)
        return real_resolve(self, rel)

    monkeypatch.setattr(ArtifactFolder, "resolve", slow_resolve)
    (old_entry,) = ArtifactFolder(folder).read_manifest().entries
    old_files = {f.path: (folder / f.path).read_bytes() for f in old_entry.files}
    stop = time.monotonic() + 4.0
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while time.monotonic() < stop:
                e, f = ((versions["entry"], versions["files"]) if i % 2 == 0
                        else (old_entry, old_files))
                commit(ArtifactFolder(folder), e, f)
                i += 1
        except BaseException as e:  # reported below
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    checked = 0
    while time.monotonic() < stop:
        problems = verify_folder(folder)
        assert not has_errors(problems), [str(p) for p in problems]
        checked += 1
    t.join()
    assert not errors and checked >= 1


def test_sha256sums_is_accepted_by_sha256sum(versions: dict, tmp_path: Path) -> None:
    folder = _copy(versions, tmp_path)
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (coreutils) not installed")
    res = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{ONNX_NAME}: OK" in res.stdout and ".safetensors: OK" in res.stdout
    (folder / ONNX_NAME).write_bytes(b"changed")
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder,
                          capture_output=True).returncode != 0


def test_onnx_file_runs_alone(versions: dict, tmp_path: Path) -> None:
    """Each .onnx works with no other file: copied alone elsewhere, onnxruntime runs it."""
    import numpy as np
    import onnxruntime as ort

    lone = tmp_path / "lone.onnx"
    shutil.copy(versions["old"] / ONNX_NAME, lone)
    sess = ort.InferenceSession(str(lone), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input": np.ones((2, 8, 8, 8), np.float32)})
    assert y.shape == (2, 8, 8, 8) and np.isfinite(y).all()


def test_fallback_reason_is_recorded(tmp_path: Path, monkeypatch) -> None:
    from chanattn_export.export import onnx as onnx_mod

    def broken(*_a, **_k):
        raise RuntimeError("dynamo says no")

    monkeypatch.setattr(onnx_mod, "_dynamo", broken)
    res = api.export_onnx("se", out=tmp_path, **TINY)
    (entry,) = read_manifest(tmp_path)["artifacts"]
    assert res.fallback_reason and entry["exporter"] == "legacy"
    assert "dynamo says no" in entry["fallback_reason"]


def test_pending_entry_round_trips(versions: dict) -> None:
    entry: ManifestEntry = versions["entry"]
    from chanattn_export.artifacts import Manifest, parse_manifest

    m = parse_manifest(Manifest().with_pending(entry).to_json())
    assert m.pending == (entry,) and m.entries == ()
    assert m.settled(lambda e: e.sha256).entries == (entry,)
    assert m.settled(lambda e: None).entries == ()
