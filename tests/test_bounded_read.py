"""Reading files an untrusted folder names: special files and oversized ones are refused
without blocking and without reading them, and only the bytes read are handed on."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from chanattn_export.errors import ArtifactError
from chanattn_export.fileio.bounded import read_bounded


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_bytes(b"x" * 100)
    assert read_bounded(p, 100) == b"x" * 100


def test_a_file_over_the_cap_is_refused_naming_both_sizes(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_bytes(b"x" * 101)
    with pytest.raises(ArtifactError, match=r"101 bytes, more than the 100 allowed"):
        read_bounded(p, 100, "manifest")


def test_a_sparse_file_of_8_gb_is_refused_at_once(tmp_path: Path) -> None:
    p = tmp_path / "model.onnx"
    with open(p, "wb") as f:
        f.truncate(8 << 30)
    t0 = time.perf_counter()
    with pytest.raises(ArtifactError, match="more than"):
        read_bounded(p, 1 << 20)
    assert time.perf_counter() - t0 < 5  # nothing was read


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    p = tmp_path / "manifest.json"
    os.mkfifo(p)
    done = threading.Event()
    errors: list[Exception] = []

    def read() -> None:
        try:
            read_bounded(p, 1 << 20, "manifest")
        except ArtifactError as e:
            errors.append(e)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(10), "reading a FIFO blocked"
    assert errors and "FIFO" in str(errors[0])


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "signature.json"
    p.symlink_to("/dev/zero")
    with pytest.raises(ArtifactError, match="character device"):
        read_bounded(p, 1 << 20, "signature")


def test_a_folder_a_socket_and_a_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"a folder|cannot"):
        read_bounded(tmp_path, 10)
    sock = tmp_path / "s"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock))
        with pytest.raises(ArtifactError, match=r"socket|cannot open"):
            read_bounded(sock, 10)
    finally:
        s.close()
    with pytest.raises(ArtifactError, match="missing"):
        read_bounded(tmp_path / "nope", 10)


def _cli(*argv: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "chanattn_export", *argv], capture_output=True,
                          text=True, timeout=120)


def _special(kind: str, path: Path) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    else:
        with open(path, "wb") as f:
            f.truncate(8 << 30)


@pytest.mark.parametrize("kind", ["fifo", "zero", "sparse"])
@pytest.mark.parametrize("which", ["manifest", "model"])
def test_verify_and_parity_never_hang_or_fill_memory(folder: Path, kind: str,
                                                      which: str) -> None:
    """verify (its progress counter included) and parity DIR on a folder whose manifest or
    model file is a FIFO, /dev/zero or an 8 GB sparse file: one line each, promptly."""
    from reliability_helpers import ONNX_NAME

    _special(kind, folder / ("manifest.json" if which == "manifest" else ONNX_NAME))
    v = _cli("verify", str(folder))
    assert v.returncode == 1 and "Traceback" not in v.stderr, v.stderr[-2000:]
    # refused unread: not a regular file, larger than recorded, or a link leaving the folder
    assert any(w in v.stdout for w in ("refused", "more than", "escapes")), v.stdout
    p = _cli("parity", str(folder), "--trust-torchscript")
    assert p.returncode in (1, 2) and "Traceback" not in p.stderr, p.stderr[-2000:]
