"""The one atomic writer: every byte is on disk before the rename makes it visible."""

from __future__ import annotations

import hashlib
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
        assert tmp.parent == tmp_path and tmp.name.startswith(".tmp-w.safetensors.")
        assert tmp.read_bytes() == data
        assert events == [("fsync", tmp.stat().st_ino, len(data), False)]
    finally:
        tmp.unlink()


def test_fsync_false_skips_the_syncs_only(tmp_path: Path, events: list[tuple]) -> None:
    target = fileio.write_atomic(tmp_path / "a.json", b"{}", fsync=False)
    assert target.read_bytes() == b"{}"
    assert [e[0] for e in events] == ["replace"]


@pytest.mark.parametrize("size", [0, 1, (1 << 20) * 2 + 5])
def test_sha256_file_matches_hashlib_across_blocks(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert fileio.sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    assert fileio.sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_sha256_file_limit(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert fileio.sha256_file(tmp_path / "f", limit=100) == hashlib.sha256(b"x" * 100).hexdigest()
    with pytest.raises(ValueError, match=r"^longer than 99 bytes$"):
        fileio.sha256_file(tmp_path / "f", limit=99)


@pytest.fixture
def umask():
    """Set a umask for one test, restoring the caller's."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda m: os.umask(m)
    os.umask(saved)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_0666_less_the_umask(tmp_path: Path, umask, mask: int, mode: int) -> None:
    umask(mask)
    assert fileio.current_umask() == mask and fileio.file_mode() == mode
    p = fileio.write_atomic(tmp_path / "a.onnx", b"1")
    assert stat.S_IMODE(p.stat().st_mode) == mode


def test_umask_without_proc_is_read_and_restored(umask, monkeypatch) -> None:
    umask(0o027)

    def no_proc(*_a, **_k):
        raise OSError("no /proc here")

    monkeypatch.setattr(fileio, "open", no_proc, raising=False)
    assert fileio.current_umask() == 0o027
    assert fileio.current_umask() == 0o027  # the probe put it back
    monkeypatch.undo()
    assert fileio.current_umask() == 0o027


def test_make_parents_creates_missing_folders_and_accepts_existing_ones(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "m.json"
    with pytest.raises(FileNotFoundError):
        fileio.write_atomic(target, b"{}")
    fileio.write_atomic(target, b"{}", make_parents=True)
    fileio.write_atomic(target, b"[]", make_parents=True)
    assert target.read_bytes() == b"[]"


def test_a_failed_stage_removes_its_temp_file_and_raises_the_original_error(
        tmp_path: Path, monkeypatch) -> None:
    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fchmod", full)
    with pytest.raises(OSError, match="No space left"):
        fileio.stage(tmp_path / "w.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_fsync_dir_is_best_effort(tmp_path: Path) -> None:
    fileio.fsync_dir(tmp_path / "missing")  # cannot be opened: no error
    fileio.fsync_dir(tmp_path)


def test_the_limit_counts_every_block(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"y" * ((1 << 20) + (1 << 19)))
    with pytest.raises(ValueError, match="longer than"):
        fileio.sha256_file(tmp_path / "f", limit=(1 << 20) + 10)


def test_a_failed_rename_removes_the_temp_file_and_keeps_the_old_file(
        tmp_path: Path, monkeypatch) -> None:
    target = fileio.write_atomic(tmp_path / "m.json", b"old")

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        fileio.write_atomic(target, b"new")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc on this OS")
def test_umask_is_read_from_proc_without_changing_it(umask, monkeypatch) -> None:
    """os.umask can only read by setting: another thread writing a file meanwhile would get
    the probe's mask. Where /proc exists it is never called."""
    umask(0o027)

    def no_set(*_a, **_k):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", no_set)
    assert fileio.current_umask() == 0o027
