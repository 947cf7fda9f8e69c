"""A disk that really fills up mid-commit: a tmpfs of 512 KB in a private mount
namespace (``unshare -m``), where a child process commits a new artifact. Skipped where this
machine does not allow private mounts; ``test_interrupt.py`` keeps the simulated ENOSPC case."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import ONNX_NAME, TINY, child_env

from chanattn_export import api
from chanattn_export.artifacts import ArtifactFolder
from chanattn_export.fileio import sha256_file

CHILD = r"""
import errno, json, os, shutil, sys
from pathlib import Path
from chanattn_export.artifacts import ArtifactFolder, ManifestEntry
from chanattn_export.artifacts import commit as commit_mod
from chanattn_export.artifacts.commit import commit
from chanattn_export.errors import ArtifactError
from chanattn_export.fileio import sha256_file
from chanattn_export.check.verify import verify_folder

mnt, src, spec_path = map(Path, sys.argv[1:4])
spec = json.loads(spec_path.read_text())
entry = ManifestEntry.from_dict(spec["entry"])
files = {k: Path(v).read_bytes() for k, v in spec["files"].items()}
folder = mnt / "art"
shutil.copytree(src, folder)
ArtifactFolder.check_space = lambda self, n: None  # the disk fills after the space check


def fill():
    fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    for size in (65536, 4096, 1):
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    os.close(fd)


def attempt():
    try:
        commit(ArtifactFolder(folder), entry, files)
        msg = "no error"
    except ArtifactError as e:
        msg = str(e)
    errors = [str(p) for p in verify_folder(folder) if p.severity == "error"]
    return {"message": msg, "errors": errors, "sha": sha256_file(folder / entry.path)}


out = {}
fill()
out["full_before"] = attempt()
os.unlink(mnt / "filler")
commit_mod.fault_hook = lambda step: fill() if step == "manifest" else None
out["full_after_replace"] = attempt()
commit_mod.fault_hook = None
os.unlink(mnt / "filler")
out["space_again"] = attempt()
print(json.dumps(out))
"""


def _can_unshare() -> str | None:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return "needs Linux and unshare(1)"
    res = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                         capture_output=True, text=True)
    return None if res.returncode == 0 else f"private mounts not permitted: {res.stderr.strip()}"


def test_real_full_disk_keeps_old_or_new_and_says_which(tmp_path: Path) -> None:
    why = _can_unshare()
    if why:
        pytest.skip(why)
    old, new = tmp_path / "old", tmp_path / "new"
    api.export_onnx("cbam-channel", out=old, **TINY)
    api.export_onnx("cbam-channel", out=new, seed=1, **TINY)
    (entry,) = ArtifactFolder(new).read_manifest().entries
    files = {f.path: str(new / f.path) for f in entry.files}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"entry": entry.to_dict(), "files": files}))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    res = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=512k tmpfs "$1" && '
         'exec "$0" "$2" "$1" "$3" "$4"', sys.executable, str(mnt), str(script), str(old),
         str(spec)], capture_output=True, text=True, timeout=300, env=child_env())
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    old_sha = sha256_file(old / ONNX_NAME)

    before = out["full_before"]
    assert "no space left on device" in before["message"]
    assert "nothing was replaced" in before["message"]
    assert before["errors"] == [] and before["sha"] == old_sha

    after = out["full_after_replace"]
    assert "no space left on device" in after["message"]
    assert "already in place" in after["message"] and "nothing was replaced" not in after["message"]
    assert after["errors"] == [] and after["sha"] == entry.sha256

    assert out["space_again"] == {"message": "no error", "errors": [], "sha": entry.sha256}
