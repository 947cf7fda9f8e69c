"""``bench`` on the command line: errors in one line, a real quick run, comparisons."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_helpers import REQUIRED, result

from chanattn_export.bench import session
from chanattn_export.bench.files import read_json, write_json
from chanattn_export.cli import main
from chanattn_export.errors import MissingDependencyError


@pytest.fixture
def small_bandwidth(monkeypatch: pytest.MonkeyPatch) -> None:
    from chanattn_export.bench import roofline

    small = roofline.measure_bandwidth
    monkeypatch.setattr(session, "measure_bandwidth",
                        lambda d, repeats=3: small(d, nbytes=8 << 20, repeats=repeats))


def test_missing_optional_dependency_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'chanattn_export\[bench\]'"):
        session.check_output_deps(plot=True)
    assert main(["bench", "--quick", "--models", "se"]) == 2


def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_json(tmp_path / "base.json", {}, [result("eager", 0.002)])
    write_json(tmp_path / "new.json", {}, [result("eager", 0.001)])
    assert main(["bench", "--compare", str(tmp_path / "base.json"),
                 str(tmp_path / "new.json")]) == 0
    out = capsys.readouterr().out
    assert "2.00x" in out and "0.500" in out and "base.json ms" in out and "new.json ms" in out
    assert "A ms" not in out


def test_cli_compare_never_prints_zero_ratios(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A 1000x slowdown reads 0.001x, not 0.00x."""
    write_json(tmp_path / "a.json", {}, [result("eager", 0.000002)])
    write_json(tmp_path / "b.json", {}, [result("eager", 0.002)])
    assert main(["bench", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "0.00x" not in out and " 0.00 " not in out and "0.00100x" in out and "1.00e+03" in out


def test_cli_compare_fail_slower_gates(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 1 on a slowdown beyond the threshold (CI's gate), 0 between a file and itself."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(a, {}, [result("eager", 0.002), result("onnxruntime", 0.001)])
    write_json(b, {}, [result("eager", 0.002), result("onnxruntime", 0.0012)])  # 20% slower
    assert main(["bench", "--compare", str(a), str(b), "--fail-slower", "10%"]) == 1
    out = capsys.readouterr().out
    assert "SLOWER by 20%" in out and "FAIL: 1 case(s) of b.json slower" in out
    assert main(["bench", "--compare", str(a), str(a), "--fail-slower", "10%"]) == 0
    assert "ok: no case" in capsys.readouterr().out
    assert main(["bench", "--compare", str(a), str(b), "--fail-slower", "25%"]) == 0
    capsys.readouterr()
    assert main(["bench", "--compare", str(a), str(b), "--fail-slower", "lots"]) == 2
    assert "--fail-slower takes a percentage" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--batch-sizes", "0"], "batch size must be in"),
    (["--backends", "tensorrt"], "backend must be one of"),
    (["--devices", "cuda"], "cuda"),
    (["--models", "nope"], "unknown model"),
    (["--threads", "0"], "threads must be in"),
    (["--stretches", "0"], "stretches must be in"),
    (["--compare", "missing-a.json", "missing-b.json"], "no such results file"),
])
def test_cli_bad_options_one_line_exit_2(argv: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chanattn_export.runtime.devices.cuda_available", lambda: False)
    assert main(["bench", "--no-progress", "--no-plot", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_cli_quick_run_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    small_bandwidth: None,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny end-to-end run: every backend, real export, JSON/CSV/PNG written; progress lines
    on a non-terminal stderr without carriage returns, and no tqdm needed."""
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` fail
    code = main(["bench", "--quick", "--models", "eca", "--batch-sizes", "2",
                 "--warmup", "1", "--repeats", "3", "--threads", "1", "--out",
                 str(tmp_path)])
    assert code == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "\r" not in captured.err and "[4/4] eca onnxruntime cpu batch 2" in captured.err
    assert "onnxruntime" in out and "x_floor" in out and "x_copy" in out and "threads 1" in out
    assert "rotate-inputs off, transfers excluded" in out and "wrote " in out
    from chanattn_export.bench.files import read_results

    f = read_results(tmp_path / "bench.json")
    machine, rs = f.machine, f.results
    assert "load_average" not in machine and "load_average" in f.run
    assert f.datetime and "id" in f.commit
    assert {r.backend for r in rs} == {"eager", "torchscript", "torch-export", "onnxruntime"}
    for r in rs:
        assert r.skipped is None and r.error is None and r.threads == 1 and r.n_samples == 3
        assert all(getattr(r, k) is not None for k in REQUIRED)
        assert math.isfinite(r.x_floor or math.nan)
        # the same-working-set copy was timed in this run, for this batch and output kind
        assert (r.copy_ms or 0) > 0 and r.x_copy == pytest.approx(r.median_ms / r.copy_ms)
    assert machine["versions"]["onnxruntime"] and f.run["bandwidth"]["cpu"]["gb_per_s"] > 0
    assert f.run["rotate_inputs"] is False and all(r.p99_ms for r in rs)
    assert (tmp_path / "bench.csv").stat().st_size > 0
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isfinite([r.median_ms for r in rs]).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.csv", "bench.json",
                                                          "bench.png"]


def test_cli_failed_backend_is_reported_and_the_rest_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], small_bandwidth: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from chanattn_export.bench import backends

    def broken(self: backends.BackendHandle) -> None:
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(backends.BackendHandle, "_open_ort", broken)
    code = main(["bench", "--no-progress", "--no-plot", "--models", "eca", "--backends",
                 "onnxruntime,eager", "--batch-sizes", "1", "--warmup", "1", "--repeats", "3",
                 "--stretches", "1", "--threads", "1", "--out", str(tmp_path)])
    assert code == 1  # a case failed: the run is not a success, but nothing is lost
    out = capsys.readouterr().out
    assert ("failed eca onnxruntime cpu batch 1: RuntimeError: CUDA error: device-side assert "
            "triggered") in out
    _, rs = read_json(tmp_path / "bench.json")
    assert [(r.backend, r.error is None, r.median_ms is not None) for r in rs] == [
        ("onnxruntime", False, False), ("eager", True, True)]
    assert "device-side assert" in (tmp_path / "bench.csv").read_text()
