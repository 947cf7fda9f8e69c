"""The README stays true: its quick start, its onnxruntime snippet and its model list."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from chanattn_export import export_onnx, list_models

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_quick_start_is_two_commands_install_run_then_install_test() -> None:
    section = README.read_text().split("## Quick start", 1)[1]
    block = re.search(r"```\w*\n(.*?)```", section, flags=re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("pip install") and "python -m chanattn_export onnx" in lines[0]
    assert lines[1].startswith("pip install") and lines[1].endswith("pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert lines[1] in ci, "CI must run the README's test command"


def test_onnxruntime_snippet_runs_without_torch_or_this_package(tmp_path: Path) -> None:
    (snippet,) = [b for b in _blocks("python") if "onnxruntime as ort" in b]
    assert len(snippet.strip().splitlines()) == 5
    export_onnx(out=tmp_path / "artifacts")  # the quick start's default export
    guard = ("import sys\n" + snippet +
             "\nassert not any(m.split('.')[0] in ('torch', 'chanattn_export') "
             "for m in sys.modules), 'snippet imported torch'\n")
    p = subprocess.run([sys.executable, "-c", guard], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "(7, 64, 56, 56) nchw"


def test_model_list_in_readme_matches_registry() -> None:
    text = README.read_text()
    for info in list_models():
        assert f"{info.name.ljust(17)}  {info.summary}" in text
