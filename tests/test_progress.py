"""Per-artifact progress: N/M lines, plain in logs, rewritten in place on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from chanattn_export.cli import main
from chanattn_export.render.progress import Progress


@pytest.mark.parametrize("command", ["parity", "verify"])
def test_folder_commands_show_n_of_m_as_plain_lines(folder: Path, command: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Not a terminal (CI): one line per artifact, no carriage return, no escape code."""
    assert main([command, str(folder), "--trust-torchscript"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\033" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert [ln.split("]")[0] for ln in lines] == ["[1/2", "[2/2"], err
    assert all(".onnx" in ln or ".pt" in ln for ln in lines)


def test_terminal_progress_rewrites_one_line_and_clears_it() -> None:
    out = io.StringIO()
    with Progress(3, out, tty=True) as bar:
        bar.note("exporting a.onnx ...")
        bar.step("a.onnx")
    text = out.getvalue()
    assert "\n" not in text and text.count("\r") == 3
    assert "[1/3] exporting a.onnx ..." in text and "[1/3] a.onnx" in text
    assert text.endswith("\r\033[K")  # cleared: the table after it starts on a clean line


def test_log_progress_counts_steps_and_notes_the_current_one() -> None:
    out = io.StringIO()
    bar = Progress(2, out, tty=False)
    bar.note("exporting a ...")
    bar.step("a")
    bar.note("exporting b ...")
    bar.step("b")
    bar.clear()
    assert out.getvalue().splitlines() == ["[1/2] exporting a ...", "[1/2] a",
                                           "[2/2] exporting b ...", "[2/2] b"]
