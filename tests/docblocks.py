"""Every fenced code block of README.md and docs/*.md, found with Sybil and checked.

tests/test_docs.py runs what this module finds. Sybil's Markdown lexers find the fenced blocks
and the ``<!-- docs: ... -->`` directives; `DocParser` turns each block (with the ``text``
block that shows its output, if one follows) into one Sybil region whose evaluator checks it:

- ``bash`` and ``python`` blocks run, in a fresh folder holding ``artifacts/`` as the quick
  start leaves it, with a time limit; a ``text`` block right after one (blank lines between
  only) is what it prints (stdout and stderr together), compared with doctest's ELLIPSIS and
  NORMALIZE_WHITESPACE: ``...`` stands for digits that differ between runs, or elided lines;
- a block that installs (``pip install``, ``git clone``) is checked, not run: the extras it
  names exist, the package is installed with ``-c constraints/cpu.txt``, pinned versions match
  the constraints, files named exist, and its other commands parse;
- directives, in an HTML comment on the line before a block: ``static`` (commands parsed, not
  run: the CLI's own parser, options of pytest and of scripts), ``in-repo`` (run at the
  repository root: for read-only commands such as ``pytest --co``), ``no-import MOD ...`` (run
  with those imports failing: the torch-free claims), ``files DIR`` (each ``name.py`` or
  ``name/`` the block shows exists under DIR), ``not-run WHY`` (an illustration: nothing to run);
- ``toml`` blocks are parsed; any other block fails: it would be an unchecked claim.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import tomllib
from sybil import Document, Region, Sybil
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, FencedCodeBlockLexer

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TIMEOUT_S = 240
RUNNABLE = ("bash", "python")
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_BLANK = re.compile(r"\s*")


@dataclass
class Block:
    page: Path
    line: int  # the opening fence's line, 1-based
    lang: str
    source: str
    directive: str = ""
    output: str | None = None  # the text block after a runnable block: what it prints

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def word(self) -> str:
        return self.directive.split(" ", 1)[0]

    @property
    def arg(self) -> str:
        return self.directive.split(" ", 1)[1].strip() if " " in self.directive else ""

    @property
    def installs(self) -> bool:
        return self.lang == "bash" and bool(re.search(r"\bpip install\b|\bgit clone\b",
                                                      self.source))

    @property
    def runs(self) -> bool:
        """Executed (else checked without running)."""
        return (self.lang in RUNNABLE and not self.installs
                and self.word not in ("static", "not-run"))


class DocParser:
    """A Sybil parser: one region per code block (and the output block that follows it)."""

    def __init__(self, check, run) -> None:
        self.check, self.run = check, run

    def __call__(self, document: Document):
        text = document.text
        fences = sorted(FencedCodeBlockLexer(r"[\w-]*")(document), key=lambda r: r.start)
        notes = {text.index("-->", r.end) + 3: r.lexemes["arguments"].strip()
                 for r in DirectiveInHTMLCommentLexer("docs")(document)}
        i = 0
        while i < len(fences):
            r = fences[i]
            directive = next((v for end, v in notes.items()
                              if end <= r.start and _BLANK.fullmatch(text[end:r.start])), "")
            block = Block(Path(document.path), text.count("\n", 0, r.start) + 1,
                          r.lexemes["language"], str(r.lexemes["source"]), directive)
            end = r.end
            nxt = fences[i + 1] if i + 1 < len(fences) else None
            if (block.lang in RUNNABLE and nxt is not None and nxt.lexemes["language"] == "text"
                    and _BLANK.fullmatch(text[r.end:nxt.start])):
                block.output, end = str(nxt.lexemes["source"]), nxt.end
                i += 1
            i += 1
            yield Region(r.start, end, block, self.run if block.runs else self.check)


def examples(check, run) -> list:
    """Sybil examples of every page, in page order."""
    sybil = Sybil(parsers=[DocParser(check, run)], patterns=["*.md"])
    return [ex for page in PAGES for ex in sybil.parse(page)]


# ---------------------------------------------------------------- running blocks


def environment(cwd: Path, blocked: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    path = [str(REPO)]
    if blocked:
        hook = cwd / ".hook"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(_BLOCKER.format(blocked=blocked))
        path.insert(0, str(hook))
    env.update(PYTHONPATH=os.pathsep.join(path), PYTHONUNBUFFERED="1", HOME=str(cwd),
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", COLUMNS="100", LC_ALL="C",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    return env


_BLOCKER = '''import sys


class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r} or name in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the docs test)")
        return None


sys.meta_path.insert(0, _Block())
'''


def run_block(block: Block, workdir: Path) -> str | None:
    """Run a bash or python block; None when it succeeded and printed what the page shows."""
    cwd = REPO if block.word == "in-repo" else workdir
    blocked = tuple(block.arg.split()) if block.word == "no-import" else ()
    env = environment(workdir, blocked)
    if block.word == "in-repo":
        env["PYTEST_ADDOPTS"] = "-p no:cacheprovider"
    if block.lang == "python":
        script = workdir / ".snippets" / f"{block.page.stem}-{block.line}.py"
        script.parent.mkdir(exist_ok=True)
        script.write_text("\n" * block.line + block.source)  # tracebacks give the page's lines
        argv = [sys.executable, str(script)]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.source]
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"{block.name}: did not finish within {TIMEOUT_S} s"
    if p.returncode != 0:
        return f"{block.name}: exit {p.returncode}; it printed:\n{p.stdout[-4000:]}"
    return compare(block, p.stdout)


class _Checker(doctest.OutputChecker):
    """doctest's comparison, with two changes: a line that is only ``...`` stands for any number
    of lines, none included (a warning printed only on a busy machine), and a table's dashed rule
    of any width matches any other."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        rule = re.compile(r"-{3,}")
        want = re.sub(r"(?m)\n?^\.\.\.$\n?", "...", want)
        return super().check_output(rule.sub("---", want), rule.sub("---", got), optionflags)


def compare(block: Block, got: str) -> str | None:
    if block.output is None:
        return None
    checker = _Checker()
    if checker.check_output(block.output, got, _FLAGS):
        return None
    example = doctest.Example("", block.output)
    return (f"{block.name}: the output differs from the page (`...` matches anything):\n"
            + checker.output_difference(example, got, _FLAGS | doctest.REPORT_NDIFF))


# ---------------------------------------------------------------- checking without running


def check_block(block: Block) -> str | None:
    if block.word == "not-run":
        return None if block.arg else f"{block.name}: `not-run` needs a reason"
    if block.word == "files":
        return check_files(block)
    if block.lang == "toml":
        tomllib.loads(block.source)
        return None
    if block.lang == "bash":
        return "\n".join(filter(None, map(check_command, commands(block.source)))) or None
    return (f"{block.name}: a `{block.lang or 'plain'}` block that nothing checks: make it "
            "bash or python (run), the text output right after one, toml, or give it a "
            "`<!-- docs: ... -->` directive (tests/docblocks.py)")


def check_files(block: Block) -> str | None:
    root = REPO / block.arg
    names = re.findall(r"(?<![\w./-])([\w-]+(?:\.py|/))(?=\s|$)", block.source, flags=re.M)
    missing = [n for n in dict.fromkeys(names)
               if not (root.parent / n).exists() and not any(root.rglob(n.rstrip("/")))]
    return f"{block.name}: not under {block.arg}: {missing}" if missing else None


def commands(source: str) -> list[list[str]]:
    """The simple commands of a shell block, as argv lists."""
    out = []
    for line in source.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part, comments=True)
            if words:
                out.append(words)
    return out


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _pins() -> dict[str, str]:
    lines = (REPO / "constraints" / "cpu.txt").read_text().splitlines()
    return dict(ln.split("==", 1) for ln in lines if "==" in ln and not ln.startswith("#"))


def check_command(argv: list[str]) -> str | None:
    if argv[:2] == ["pip", "install"]:
        return check_pip(argv[2:])
    if argv[:2] == ["pip", "uninstall"]:
        return None
    if argv[:2] == ["git", "clone"] or argv[0] in ("cd", "ruff", "sha256sum", "openssl"):
        return None
    if argv[:3] == ["python", "-m", "chanattn_export"] or argv[0] == "chanattn-export":
        return check_cli(argv[3:] if argv[0] == "python" else argv[1:])
    if argv[:2] == ["pytest-benchmark", "compare"]:  # installed by the bench extra
        return None if (Path(sys.executable).parent / argv[0]).exists() else f"no {argv[0]}"
    if argv[0] == "pytest" or argv[:3] == ["python", "-m", "pytest"]:
        return check_options(argv, _pytest_help())
    if argv[0] in ("python", "bash") and len(argv) > 1 and (REPO / argv[1]).is_file():
        script = REPO / argv[1]
        texts = [p.read_text() for p in script.parent.glob(f"{script.stem}.*")]
        return check_options(argv, "\n".join(texts))
    return f"{' '.join(argv)}: not a command the docs test knows how to check"


def check_options(argv: list[str], known: str) -> str | None:
    opts = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    bad = [o for o in opts if not re.search(rf"{re.escape(o)}\b", known)]
    return f"{' '.join(argv)}: unknown options {bad}" if bad else None


_cache: dict[str, str] = {}


def _pytest_help() -> str:
    if "pytest" not in _cache:
        env = environment(REPO)
        env["PYTEST_ADDOPTS"] = "-p no:cacheprovider"
        _cache["pytest"] = subprocess.run(
            [sys.executable, "-m", "pytest", "--help"], cwd=REPO, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT_S).stdout
    return _cache["pytest"]


def check_cli(args: list[str]) -> str | None:
    """Parse with the CLI's own parser: an unknown command, option or choice is an error."""
    import contextlib
    import io

    from chanattn_export.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(args)
    except SystemExit as e:
        if e.code:
            return f"chanattn_export {' '.join(args)}: {err.getvalue().strip()}"
    return None


def check_pip(args: list[str]) -> str | None:
    problems, no_deps = [], "--no-deps" in args
    constrained = "-c" in args and args[args.index("-c") + 1:][:1] == ["constraints/cpu.txt"]
    extras = set(_pyproject()["project"]["optional-dependencies"])
    pins = _pins()
    it = iter(args)
    for a in it:
        if a in ("-c", "-r"):
            f = next(it)
            if not (REPO / f).is_file():
                problems.append(f"{a} {f}: no such file in the repository")
        elif a in ("--index-url", "--extra-index-url"):
            next(it)
        elif a.startswith("-"):
            continue
        elif m := re.fullmatch(r"(\.|chanattn_export)(?:\[([\w,-]+)\])?", a):
            problems += [f"no extra [{x}] in pyproject.toml" for x in (m[2] or "").split(",")
                         if x and x not in extras]
            if not no_deps and not constrained:
                problems.append(f"{a} installed with its dependencies (torch) but without "
                                "-c constraints/cpu.txt")
        elif (m := re.fullmatch(r"([\w-]+)==([\w.+]+)", a)) and pins.get(m[1], m[2]) != m[2]:
            problems.append(f"{a}: constraints/cpu.txt pins {m[1]}=={pins[m[1]]}")
    return "; ".join(f"pip install {' '.join(args)}: {p}" for p in problems) or None
