"""Concurrent exports into one folder all land in the manifest; a killed lock holder blocks none."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from reliability_helpers import assert_consistent, child_env, read_manifest

from chanattn_export.artifacts import ArtifactFolder
from chanattn_export.artifacts import folder as artifacts_mod
from chanattn_export.check.verify import verify_folder

TINY_ARGS = ["--channels", "8", "--height", "8", "--width", "8"]


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())


def test_two_exports_at_once_both_land(tmp_path: Path) -> None:
    out = tmp_path / "art"
    procs = [
        _spawn("-m", "chanattn_export", "onnx", "--model", "se", "--out", str(out), *TINY_ARGS),
        _spawn("-m", "chanattn_export", "torchscript", "--model", "eca", "--out", str(out),
               *TINY_ARGS),
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    paths = sorted(a["path"] for a in read_manifest(out)["artifacts"])
    assert paths == ["eca-nchw-c8-8x8.pt", "se-nchw-c8-r8-8x8.onnx"]
    assert_consistent(out)
    assert verify_folder(out, trust_torchscript=True) == []


WRITER = """
import sys
from chanattn_export.artifacts import ArtifactFolder, ManifestEntry
folder, tag = ArtifactFolder(sys.argv[1]), sys.argv[2]
for i in range(25):
    entry = ManifestEntry.from_dict({
        "path": f"{tag}-{i}.onnx", "sha256": "0" * 64, "format": "onnx", "parity": {},
        "weights": "w.111111111111.safetensors",
        "model": {"name": "se", "channels": 8, "ratio": 8}, "input": {},
        "files": [{"path": f"{tag}-{i}.onnx", "sha256": "0" * 64},
                  {"path": "w.111111111111.safetensors", "sha256": "1" * 64}]})
    folder.update_manifest(lambda m, e=entry: m.with_entry(e))
"""


def test_manifest_updates_are_never_lost(tmp_path: Path) -> None:
    """Three processes race 25 read-modify-writes each: without the lock, updates get lost."""
    out = tmp_path / "art"
    out.mkdir()
    procs = [_spawn("-c", WRITER, str(out), tag) for tag in "abc"]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert len(read_manifest(out)["artifacts"]) == 75


HOLDER = """
import sys, time
from chanattn_export.artifacts import ArtifactFolder
with ArtifactFolder(sys.argv[1]).locked():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "art"
    out.mkdir()
    holder = _spawn("-c", HOLDER, str(out))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        holder.kill()  # SIGKILL: no cleanup runs
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert list(out.iterdir()) == []  # the lock is the folder's own flock: no lock file
    monkeypatch.setattr(artifacts_mod, "LOCK_TIMEOUT_S", 5.0)
    t0 = time.monotonic()
    ArtifactFolder(out).update_manifest(lambda m: m)
    assert time.monotonic() - t0 < 5.0
