"""Rendering bench results: text tables, the footer line, the throughput plot."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from bench_helpers import result

from chanattn_export.bench.compare import compare
from chanattn_export.bench.config import BenchConfig
from chanattn_export.bench.roofline import Bandwidth
from chanattn_export.render.bench import (
    RESULT_HEADERS,
    comparison_table,
    plot_title,
    results_table,
    run_footer,
)


def test_results_table_rows_and_notes_for_untimed_cases() -> None:
    ok = result("eager", 0.002)
    skipped = dataclasses.replace(result("torchscript"), skipped="no CUDA device",
                                  median_ms=None)
    failed = dataclasses.replace(result("onnxruntime"), error="RuntimeError: boom",
                                 median_ms=None)
    lines = results_table([ok, skipped, failed]).splitlines()
    assert lines[0].split() == RESULT_HEADERS and set(lines[1]) == {"-", " "}
    assert lines[2].split()[:6] == ["cbam-channel", "eager", "cpu", "float32", "8", "2"]
    assert "2.000" in lines[2] and "4,000" in lines[2]
    assert lines[3] == "skipped cbam-channel torchscript cpu batch 8: no CUDA device"
    assert lines[4] == "failed cbam-channel onnxruntime cpu batch 8: RuntimeError: boom"
    assert len(lines) == 5
    # numbers are right-aligned: every row ends where the header ends
    assert len(lines[2]) == len(lines[0])


def test_comparison_table() -> None:
    text = comparison_table(compare([result("eager", 0.002), result("torchscript")],
                                    [result("eager", 0.001)]))
    assert "2.00x" in text and "0.50" in text and "2/2" in text
    assert "geometric mean speedup of B over A: 2.00x over 1 cases" in text
    assert "only in A: cbam-channel torchscript cpu float32 8" in text


def test_run_footer_says_what_every_row_shares() -> None:
    cfg = BenchConfig(models=("se",), threads=3, include_transfer=True)
    line = run_footer(cfg, {"cpu": Bandwidth("cpu", 21.84, 1, 1.0, 0.1)})
    assert line == ("threads 3, copy bandwidth cpu 21.8 GB/s, rotate-inputs off, "
                    "transfers included")
    assert plot_title("EPYC", BenchConfig(models=("se",), threads=1)) == \
        "EPYC, 1 thread, rotate_inputs=off"


def test_plot_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from chanattn_export.render.plot import plot_throughput

    rs = [result(b, 0.001 * n, n) for b in ("eager", "onnxruntime") for n in (1, 8, 32)]
    p = plot_throughput(rs, tmp_path / "p.png", "title")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [f.name for f in tmp_path.iterdir()] == ["p.png"]


def test_plot_failure_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old plot saved to a temp name first and left it behind when saving failed."""
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    from chanattn_export.render.plot import plot_throughput

    def broken(self: object, fname: object, *_a: object, **_k: object) -> None:
        if isinstance(fname, (str, Path)):  # a renderer dying halfway through a file
            Path(fname).write_bytes(b"\x89PNG partial")
        else:
            fname.write(b"\x89PNG partial")  # type: ignore[attr-defined]
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        plot_throughput([result()], tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []
