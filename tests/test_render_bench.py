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
    assert "2.00x" in text and "0.500" in text and "2/2" in text
    assert "geometric mean speedup of B over A: 2.00x over 1 cases" in text
    assert "inconclusive" not in text  # the IQRs (1.8-2.2 ms vs 0.9-1.1 ms) are apart
    assert "only in A: cbam-channel torchscript cpu float32 8" in text


def test_run_footer_says_what_every_row_shares() -> None:
    cfg = BenchConfig(models=("se",), threads=3, include_transfer=True)
    line = run_footer(cfg, {"cpu": Bandwidth("cpu", 21.84, 1, 1.0, 0.1)})
    assert line == ("threads 3, copy bandwidth cpu 21.8 GB/s, rotate-inputs off, "
                    "transfers included")
    assert plot_title("EPYC", BenchConfig(models=("se",), threads=1), ["a/bench.json"]) == \
        "a/bench.json | EPYC | 1 thread, rotate_inputs=off"


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


def _png_size(data: bytes) -> tuple[int, int]:
    import struct

    return struct.unpack(">II", data[16:24])


def test_plot_is_readable_at_its_default_size() -> None:
    """The quick run's one-panel plot was 336 x 256 px, too small to read its labels."""
    pytest.importorskip("matplotlib")
    from chanattn_export.render.plot import throughput_png

    one = [result(b, 0.001 * n, n) for b in ("eager", "onnxruntime") for n in (1, 8)]
    w, h = _png_size(throughput_png(one, "bench.json | CPU"))
    assert w >= 600 and h >= 400
    three = [dataclasses.replace(r, model=m) for m in ("se", "eca", "cbam") for r in one]
    w3, _ = _png_size(throughput_png(three))
    assert w3 >= 3 * 450


def _roofline_case(copy: bool) -> list:
    """Points above the DRAM line (x_floor 0.51-0.61, inputs in cache, as the report showed),
    and below a copy of the same working set (x_copy 1.6-2.0) when one was measured."""
    out = []
    for b, n in (("eager", 1), ("eager", 8), ("onnxruntime", 1), ("onnxruntime", 8)):
        r = result(b, 0.001 * n, n)
        x_floor = 0.51 + 0.1 * (b == "onnxruntime") * (n == 8)
        r = dataclasses.replace(r, floor_ms=r.median_ms / x_floor, x_floor=x_floor)
        if copy:
            r = dataclasses.replace(r, copy_ms=r.median_ms / 1.6, x_copy=1.6)
        out.append(r)
    return out


@pytest.mark.parametrize("copy", [True, False], ids=["with-x_copy", "suite-without-x_copy"])
def test_no_plotted_point_lies_above_a_line_labelled_ceiling(
        copy: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ceiling that measured points exceed is not a ceiling: every line the figure labels a
    ceiling is checked against every point drawn in its panel (the figure the PNG is made
    from, kept open by intercepting ``plt.close``)."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from chanattn_export.render.plot import throughput_png

    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", kept.append)
    throughput_png(_roofline_case(copy))
    monkeypatch.setattr(plt, "close", close)
    (fig,) = kept
    try:
        (ax,) = fig.axes
        labels = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        points = [(x, y) for c in ax.containers for x, y in zip(*c.lines[0].get_data(),
                                                                  strict=True)]
        assert len(points) == 4
        refs = {ln.get_label(): dict(zip(*ln.get_data(), strict=True))
                for ln in ax.get_lines() if "=1" in ln.get_label()}
        assert refs, labels
        for label, line in refs.items():
            above = [p for p in points if p[1] > line[p[0]] * (1 + 1e-9)]
            if "ceiling" in label and "not a ceiling" not in label:
                assert not above, (label, above)
            else:
                assert above, label  # called "not a ceiling" only when a point beats it
        dram = [label for label in refs if "x_floor=1" in label]
        assert dram and all("not a ceiling" in label for label in dram)
        if copy:
            assert refs.keys() - set(dram) == {
                "cpu copy of the same working set (x_copy=1), ceiling"}
    finally:
        plt.close(fig)
