"""The one atomic writer: every byte is on disk before the rename makes it visible."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chanattn_export import fileio


@pytest.fixture
def events(monkeypatch) -> list[tuple]:
    """Record fsync and replace calls in order: (what, inode, size, is_dir)."""
    log: list[tuple] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        log.append(("fsync", st.st_ino, st.st_size, stat.S_ISDIR(st.st_mode)))
        real_fsync(fd)

    def replace(src, dst) -> None:
        st = os.stat(src)
        log.append(("replace", st.st_ino, st.st_size, False))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


def test_write_atomic_fsyncs_the_whole_file_before_the_rename_then_the_folder(
        tmp_path: Path, events: list[tuple]) -> None:
    data = b"x" * 5000
    target = fileio.write_atomic(tmp_path / "model.onnx", data)
    assert target.read_bytes() == data
    kinds = [e[0] for e in events]
    assert kinds.count("replace") == 1
    r = kinds.index("replace")
    _, ino, _, _ = events[r]
    assert ino == target.stat().st_ino
    # The staged file itself, complete, was fsynced before it replaced anything ...
    assert ("fsync", ino, len(data), False) in events[:r]
    # ... and the folder holding the rename after it.
    assert ("fsync", tmp_path.stat().st_ino, tmp_path.stat().st_size, True) in events[r + 1:]


def test_stage_fsyncs_the_complete_temp_file(tmp_path: Path, events: list[tuple]) -> None:
    data = bytes(range(256)) * 10
    tmp = Path(fileio.stage(tmp_path / "w.safetensors", data))
    try:
        assert tmp.parent == tmp_path and tmp.name.startswith(fileio.TMP_PREFIX)
        assert tmp.read_bytes() == data
        assert events == [("fsync", tmp.stat().st_ino, len(data), False)]
    finally:
        tmp.unlink()


def test_fsync_false_skips_the_syncs_only(tmp_path: Path, events: list[tuple]) -> None:
    target = fileio.write_atomic(tmp_path / "a.json", b"{}", fsync=False)
    assert target.read_bytes() == b"{}"
    assert [e[0] for e in events] == ["replace"]
