"""The docs cannot go stale: every code block of README.md and docs/*.md is run or checked.

How each kind of block is checked: tests/docblocks.py. A page's runnable blocks run in order,
as a reader following the page would, in one fresh folder that holds ``artifacts/`` as the
README's quick start leaves it (its first command, run once per test session).
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docblocks import PAGES, REPO, check_block, environment, examples, run_block

README = REPO / "README.md"
MAX_README_LINES = 300


def _run(example) -> str | None:
    return run_block(example.parsed, example.namespace["workdir"])


def _check(example) -> str | None:
    return check_block(example.parsed)


EXAMPLES = examples(_check, _run)
CHECKS = [e for e in EXAMPLES if not e.parsed.runs]
RUNS: dict[str, list] = {}
for _e in EXAMPLES:
    if _e.parsed.runs:
        RUNS.setdefault(_e.parsed.page.relative_to(REPO).as_posix(), []).append(_e)


def quick_start() -> tuple[str, str]:
    """The README's two quick-start commands."""
    section = README.read_text().split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert len(lines) == 2, lines
    return lines[0], lines[1]


@pytest.fixture(scope="session")
def quick_start_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where the quick start's first command (after its install) has run: built once
    per run, shared by the xdist workers through a lock."""
    first, _ = quick_start()
    command = first.split("&&", 1)[1].strip()
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base
    home = shared / "docs-quick-start"
    with open(shared / "docs-quick-start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "done").is_file():
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            p = subprocess.run(["bash", "-e", "-c", command], cwd=home, env=environment(home),
                               capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, p.stdout + p.stderr
            (home / "done").write_text(p.stdout)
    return home


@pytest.fixture
def workdir(quick_start_folder: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(quick_start_folder / "artifacts", work / "artifacts")
    return work


@pytest.mark.parametrize("page", sorted(RUNS))
def test_page_runs_and_prints_what_it_shows(page: str, workdir: Path) -> None:
    """Each block in order (a failure names the block's line); later blocks see what earlier
    ones wrote."""
    for example in RUNS[page]:
        example.namespace["workdir"] = workdir
        example.evaluate()


@pytest.mark.parametrize("example", CHECKS, ids=[e.parsed.name for e in CHECKS])
def test_doc_block_that_is_not_run_is_checked(example) -> None:
    example.evaluate()


def test_readme_is_a_five_minute_read() -> None:
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move details to docs/"


def test_quick_start_is_install_and_run_then_install_and_test() -> None:
    first, second = quick_start()
    assert first.startswith("pip install") and "python -m chanattn_export onnx" in first
    assert second.startswith("pip install") and second.endswith("pytest")
    assert "-c constraints/cpu.txt" in first and "-c constraints/cpu.txt" in second
    assert second in (REPO / ".ci" / "run").read_text(), "CI must run the README's test command"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a page."""
    out = set()
    for h in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    assert not broken, f"{page.name}: links to nothing: {broken}"


def test_readme_links_every_docs_page() -> None:
    text = README.read_text()
    pages = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    missing = [p for p in pages if f"docs/{p}" not in text]
    assert not missing, f"README.md does not link {missing}"


def test_a_stale_block_fails(tmp_path: Path) -> None:
    """The harness catches both kinds of staleness: an option that no longer exists and an
    output line that no longer matches."""
    from docblocks import Block

    page = REPO / "README.md"
    renamed = Block(page, 1, "bash", "python -m chanattn_export list --modle se\n")
    assert "unrecognized arguments" in run_block(renamed, tmp_path)
    changed = Block(page, 1, "bash", "python -m chanattn_export list\n",
                    output="se  Squeeze-and-Excitation (Hu et al. 2019) ...\n...")
    assert "output differs" in run_block(changed, tmp_path)
    assert "unknown options" in check_block(Block(page, 1, "bash", "pytest --no-such-flag\n",
                                                  directive="static"))
    assert sys.executable
