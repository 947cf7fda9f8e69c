"""Run Python as a deployment host would: torch, onnx and safetensors cannot be imported.

A fresh virtualenv with only numpy and onnxruntime is the real thing, but creating one is too
slow for the default test run. Instead a ``sitecustomize`` module, first on ``PYTHONPATH``,
installs an import hook that makes every import of the blocked packages fail, and records each
attempt so a test can also catch code that swallows the ImportError.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from reliability_helpers import REPO

BLOCKED = ("torch", "torchvision", "onnx", "onnxscript", "safetensors", "filelock")
NOBODY = 65534

SITECUSTOMIZE = f'''
import sys

BLOCKED = {BLOCKED!r}
sys.blocked_import_attempts = []


class _Block:
    """Meta path finder that refuses the packages a deployment host does not have."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            sys.blocked_import_attempts.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: torchless test)",
                                      name=name)
        return None


sys.meta_path.insert(0, _Block())
'''


def make_world_readable_base(tmp: Path | None = None) -> Path:
    """A folder another user can enter (pytest's tmp_path is 0700 under root)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="chanattn-torchless-", dir=tmp))
    os.chmod(base, 0o755)
    hook = base / "hook"
    hook.mkdir(mode=0o755)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    os.chmod(hook / "sitecustomize.py", 0o644)
    return base


def as_nobody_prefix() -> list[str] | None:
    """``setpriv`` argv that drops to nobody, or None when this cannot be done here."""
    if os.geteuid() != 0:
        return []  # already not root: run as ourselves
    exe = shutil.which("setpriv")
    if exe is None:
        return None
    return [exe, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def run_torchless(argv: list[str], base: Path, *, prefix: list[str] | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` with the blocking hook active and this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(base / "hook"), str(REPO)])
    env["OMP_NUM_THREADS"] = "1"
    env["HOME"] = str(base)
    return subprocess.run([*(prefix or []), sys.executable, *argv], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=base)
