"""benchmarks/gpu_smoke.sh cannot rot unnoticed on a machine without a GPU: its CPU-safe steps
run here, its CUDA steps are reported SKIPPED with the reason, a failing step fails the script,
and every CLI option its CUDA steps use still parses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import REPO

from chanattn_export.cli import build_parser

SCRIPT = REPO / "benchmarks" / "gpu_smoke.sh"
CUDA_STEPS = ("torch-cuda", "onnxruntime-cuda", "export-all-cuda", "verify-cuda", "parity-cuda",
              "bench-cuda-float32", "bench-cuda-float32-transfer", "bench-cuda-float16",
              "bench-cuda-float16-transfer")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(tmp_path: Path, python: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": python}
    return subprocess.run(["bash", str(SCRIPT), "--out", str(tmp_path / "smoke"), *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=REPO)


def test_cpu_steps_pass_and_cuda_steps_are_skipped_with_the_reason(tmp_path: Path) -> None:
    res = _run(tmp_path, sys.executable, "--cpu-only")
    lines = res.stdout.splitlines()
    assert res.returncode == 0, res.stdout + res.stderr
    assert [ln.split(":")[0] for ln in lines[:2]] == ["PASS versions", "PASS cpu-export-verify"]
    assert lines[2:-1] == [f"SKIP {s}: --cpu-only given" for s in CUDA_STEPS]
    assert lines[-1].startswith("gpu smoke: 2 PASS, 0 FAIL, 9 SKIP")
    assert (tmp_path / "smoke" / "cpu" / "manifest.json").is_file()


def test_a_failing_step_fails_the_script(tmp_path: Path) -> None:
    res = _run(tmp_path, "false")  # an interpreter that fails every step
    assert res.returncode == 1
    assert "FAIL versions: exit 1" in res.stdout
    assert f"SKIP {CUDA_STEPS[0]}: the versions step failed" in res.stdout


@pytest.mark.parametrize("argv", [
    ["all", "--channels", "16", "--height", "8", "--width", "8", "--devices", "cpu,cuda"],
    ["verify", "DIR", "--devices", "cuda"],
    ["parity", "DIR", "--devices", "cuda"],
    ["bench", "--quick", "--devices", "cuda", "--dtype", "float16", "--include-transfer",
     "--no-plot", "--no-progress"],
])
def test_the_cuda_steps_options_still_exist(argv: list[str]) -> None:
    text = SCRIPT.read_text()
    assert all(a in text for a in argv if a.startswith("--"))
    assert build_parser().parse_args(argv).func
