"""The rules every command follows (docs/cli.md): exit codes and streams, and argument parsing.

Exit codes: 0 success, 1 a check failed (its findings on stdout), 2 bad input or a toolkit
error (one line on stderr, nothing on stdout, no traceback), 130/143 interrupted/terminated
(tests/test_interrupt.py). Each command is run in process on a bad input of its own; the list
of commands is read from the parser, so a new command without a case here fails the test.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import pytest

from chanattn_export.cli import EXIT_ERROR, EXIT_FAILED, EXIT_OK, build_parser, main

# One bad input per command ({tmp}: a fresh empty folder; {art}: an artifact folder).
BAD_INPUT = {
    "onnx": ["onnx", "--model", "nope", "--out", "{tmp}/out"],
    "torchscript": ["torchscript", "--model", "nope", "--out", "{tmp}/out"],
    "pt2": ["pt2", "--model", "nope", "--out", "{tmp}/out"],
    "all": ["all", "--models", "nope", "--out", "{tmp}/out"],
    "list": ["list", "surplus"],
    "parity": ["parity", "{tmp}/missing_dir"],
    "verify": ["verify", "{tmp}/missing_dir"],
    "inspect": ["inspect", "{tmp}/missing_dir"],
    "keygen": ["keygen", "{art}/inside.pem"],  # keys never go into an artifact folder
    "sign": ["sign", "{tmp}/missing_dir", "--key", "{tmp}/k.pem"],
    "bench": ["bench", "--models", "nope", "--no-plot", "--out", "{tmp}/b"],
    "report": ["report", "{tmp}/missing_dir", "--out", "{tmp}/r.html"],
}


def _commands() -> set[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def _run(argv: list[str], capfd) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors (the toolkit's format, see cli._Parser)
        code = int(e.code or 0)
    out, err = capfd.readouterr()
    return code, out, err


def _fill(argv: list[str], tmp: Path, art: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)).replace("{art}", str(art)) for a in argv]


@pytest.fixture
def art(tmp_path: Path) -> Path:
    """Something that looks like an artifact folder (a manifest is all keygen looks at)."""
    d = tmp_path / "art"
    d.mkdir()
    (d / "manifest.json").write_text('{"manifest_version": 1, "artifacts": []}')
    return d


def test_every_command_has_a_bad_input_case() -> None:
    assert set(BAD_INPUT) == _commands()


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_bad_input_is_exit_2_and_one_line_on_stderr(command: str, tmp_path: Path, art: Path,
                                                    capfd) -> None:
    code, out, err = _run(_fill(BAD_INPUT[command], tmp_path, art), capfd)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == EXIT_ERROR, (command, out, err)
    assert out == "", (command, out)  # stdout is for results only
    assert len(lines) == 1 and lines[0].startswith("error: "), (command, err)
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (art / "inside.pem").exists()


# what a command needs before argparse looks at the other options
REQUIRED = {"inspect": ["x"], "keygen": ["x"], "sign": ["x", "--key", "k"]}


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_unknown_option_is_exit_2_and_one_line_on_stderr(command: str, capfd) -> None:
    code, out, err = _run([command, *REQUIRED.get(command, []), "--no-such-option"], capfd)
    assert code == EXIT_ERROR and out == ""
    assert err.strip().splitlines() == [
        "error: chanattn_export: unrecognized arguments: --no-such-option (see --help)"]


def test_verify_of_a_folder_without_manifest_is_bad_input(tmp_path: Path, capfd) -> None:
    code, out, err = _run(["verify", str(tmp_path)], capfd)
    assert code == EXIT_ERROR and out == ""
    assert err.strip() == f"error: {tmp_path}: no manifest.json (not an artifact folder?)"


def test_a_failed_check_is_exit_1_with_its_findings_on_stdout(folder: Path, capfd) -> None:
    """verify of a changed file: the check ran and failed (exit 1), its lines on stdout."""
    from reliability_helpers import ONNX_NAME

    data = bytearray((folder / ONNX_NAME).read_bytes())
    data[-1] ^= 1
    (folder / ONNX_NAME).write_bytes(bytes(data))
    code, out, err = _run(["verify", str(folder), "--trust-torchscript"], capfd)
    assert code == EXIT_FAILED
    assert f"{ONNX_NAME}: sha256 differs" in out and "error:" not in err


# -- argument parsing ------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_no_prefix_matching_anywhere(capfd) -> None:
    """``--mod`` is not ``--models``, ``--out`` is not read from ``--ou``, on every command."""
    for command in sorted(_commands()):
        code, _out, err = _run([command, *REQUIRED.get(command, []), "--ou", "x"], capfd)
        assert code == EXIT_ERROR, command
        assert "unrecognized arguments: --ou" in err, (command, err)
    code, _, err = _run(["all", "--mod", "se"], capfd)
    assert code == EXIT_ERROR and "unrecognized arguments: --mod se" in err


def test_all_model_is_an_alias_of_models() -> None:
    assert _parse("all", "--model", "se").models == "se"
    assert _parse("all", "--models", "se,eca").models == "se,eca"


@pytest.mark.parametrize("command", ["torchscript", "pt2"])
@pytest.mark.parametrize("flag", [["--opset", "17"], ["--exporter", "legacy"],
                                  ["--precision", "fp16"], ["--fp16-io"]])
def test_onnx_only_options_are_refused_elsewhere(command: str, flag: list[str], capfd) -> None:
    code, out, err = _run([command, *flag], capfd)
    assert code == EXIT_ERROR and out == ""
    assert err.strip() == (f"error: chanattn_export {command}: {flag[0]} is an ONNX option "
                           f"(commands onnx and all); {command} does not use it (see --help)")
    help_ = build_parser()._subparsers._group_actions[0].choices[command].format_help()
    assert not [f for f in ("--opset", "--exporter", "--precision", "--calibration",
                            "--fp16-io", "--int8-recipe") if f in help_]


def test_onnx_and_all_offer_the_onnx_options() -> None:
    assert _parse("onnx", "--opset", "17", "--exporter", "legacy").opset == 17
    assert _parse("all", "--opset", "17").opset == 17


def test_ratio_help_names_every_model_that_refuses_it() -> None:
    """Generated from the registry: all seven ratio-free models, and no other."""
    from chanattn_export.registry import list_models

    help_ = " ".join(build_parser()._subparsers._group_actions[0].choices["onnx"]
                     .format_help().split())
    free = [m.name for m in list_models() if not m.uses_ratio]
    assert len(free) == 7
    assert ("refuse it (all passes it to the others only): " + ", ".join(free)) in help_
    for m in list_models():
        if m.uses_ratio and m.default_ratio != 16:
            assert f"{m.name}: {m.default_ratio}" in help_


@pytest.mark.parametrize("command", ["all", "list"])
def test_all_and_list_have_a_description(command: str) -> None:
    sub = build_parser()._subparsers._group_actions[0]
    assert sub.choices[command].description
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert helps[command]


def test_report_never_replaces_report_html_without_force(tmp_path: Path, monkeypatch,
                                                         pristine: Path, capfd) -> None:
    monkeypatch.chdir(tmp_path)
    art = Path(shutil.copytree(pristine, tmp_path / "art"))
    page = tmp_path / "report.html"
    page.write_text("an earlier page")
    code, out, err = _run(["report", str(art)], capfd)
    assert code == EXIT_ERROR and out == ""
    assert err.strip() == ("error: report.html exists: pass --force to replace it, or --out "
                           "PATH to write another page")
    assert page.read_text() == "an earlier page"
    code, out, _ = _run(["report", str(art), "--force"], capfd)
    assert code == EXIT_OK and re.match(r"wrote report\.html \(2 artifacts", out)
    assert page.read_text().startswith("<!DOCTYPE html>")
    page.unlink()  # no page yet: the default name is written without --force
    assert _run(["report", str(art)], capfd)[0] == EXIT_OK and page.exists()
    code, _, _ = _run(["report", str(art), "--out", str(page)], capfd)
    assert code == EXIT_OK  # an --out the user names is replaced: they asked for it
