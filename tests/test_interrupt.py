"""Ctrl-C, SIGTERM, a full disk and a read-only folder never leave a half-written artifact."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pytest
from reliability_helpers import (
    ONNX_NAME,
    TINY,
    assert_consistent,
    child_env,
    read_manifest,
)

from chanattn_export import ArtifactError, api
from chanattn_export.artifacts import folder as artifacts_mod
from chanattn_export.check.verify import has_errors, verify_folder
from chanattn_export.export import subject as subject_mod


def _wait_for_entries(folder: Path, proc: subprocess.Popen, n: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if len(read_manifest(folder)["artifacts"]) >= n:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("export did not start in time")


@pytest.mark.parametrize("signame, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_during_all_stops_cleanly(tmp_path: Path, signame: str, code: int) -> None:
    out = tmp_path / "art"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chanattn_export", "all", "--out", str(out),
         "--channels", "8", "--height", "8", "--width", "8"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
    )
    try:
        _wait_for_entries(out, proc, 2)
        time.sleep(0.3)  # land somewhere inside the next export or write
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "stopped cleanly" in last and len([ln for ln in err.splitlines()
                                               if "stopped" in ln]) == 1
    assert_consistent(out)
    assert not has_errors(verify_folder(out, trust_torchscript=True))


def _fsync_fails_for(suffix: str, err: int):
    real = os.fsync

    def fsync(fd: int) -> None:
        if suffix in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(err, os.strerror(err))
        real(fd)

    return fsync


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    out = tmp_path / "art"
    api.export_onnx("cbam-channel", out=out, **TINY)
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_disk_full_while_writing_the_model_keeps_the_old_artifact(exported: Path,
                                                                   monkeypatch) -> None:
    before = read_manifest(exported)
    monkeypatch.setattr(os, "fsync", _fsync_fails_for(".onnx.", errno.ENOSPC))
    with pytest.raises(ArtifactError, match="no space left") as info:
        api.export_onnx("cbam-channel", out=exported, seed=1, **TINY)  # other weights
    assert str(exported) in str(info.value)
    monkeypatch.undo()
    assert read_manifest(exported)["artifacts"] == before["artifacts"]  # old entry kept
    assert_consistent(exported)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_ctrl_c_while_writing_leaves_no_temp_file(exported: Path, monkeypatch) -> None:
    real = os.fsync

    def fsync(fd: int) -> None:
        if ".onnx." in os.readlink(f"/proc/self/fd/{fd}"):
            raise KeyboardInterrupt
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(KeyboardInterrupt):
        api.export_onnx("cbam-channel", out=exported, seed=1, **TINY)
    monkeypatch.undo()
    assert_consistent(exported)


def test_not_enough_space_is_refused_before_writing(exported: Path, monkeypatch) -> None:
    before = _snapshot(exported)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(artifacts_mod.shutil, "disk_usage", lambda _p: usage(10**9, 10**9, 100))
    with pytest.raises(ArtifactError, match="not enough space in"):
        api.export_torchscript("se", out=exported, **TINY)
    assert _snapshot(exported) == before


def test_read_only_folder_fails_before_any_work(exported: Path, monkeypatch) -> None:
    """os.access says 'writable' to root on a read-only mount: a real probe file must fail."""
    before = _snapshot(exported)

    def erofs(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system")

    def no_export(*_a, **_k):
        raise AssertionError("exported into a folder that cannot be written")

    monkeypatch.setattr(artifacts_mod.tempfile, "mkstemp", erofs)
    monkeypatch.setattr(subject_mod, "export_bytes", no_export)
    with pytest.raises(ArtifactError, match="not writable"):
        api.export_onnx("cbam-channel", out=exported, seed=1, **TINY)
    monkeypatch.undo()
    assert _snapshot(exported) == before


def test_temp_files_of_a_killed_run_are_removed_however_young(exported: Path) -> None:
    """Writers hold the folder lock while their temp files exist: under the lock, every temp
    file is dead, even one a SIGKILL left a second ago."""
    stale, fresh = exported / ".tmp-x.onnx.abc", exported / ".tmp-y.onnx.def"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"killed just now")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    api.export_torchscript("se", out=exported, **TINY)
    assert not stale.exists() and not fresh.exists()
    assert (exported / ONNX_NAME).exists()
