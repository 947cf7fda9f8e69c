"""``python -m chanattn_export``: a thin front over the API, one module per command group.

``export`` (onnx, torchscript, pt2, all, list), ``check`` (parity, verify), ``bench`` (bench,
report) and ``deploy`` (inspect, keygen, sign); ``options`` and ``common`` hold what they share.
Nothing imports the CLI. Exit codes: 0 success, 1 a check failed (parity, verification), 2 bad
input or a toolkit error, 130 interrupted, 143 terminated. Toolkit errors print one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ..errors import ChanAttnError
from . import bench, check, deploy, export
from .common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    require_torch,
    silence_stdout,
)
from .options import HelpFormatter

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with the toolkit's one-line error format (usage stays behind --help), and no
    prefix matching: ``--model`` is never silently read as ``--models``. Sub-command parsers
    are of this class too (argparse makes them with the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_ERROR, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chanattn_export",
        description="Export channel-attention blocks to TorchScript and ONNX, with parity checks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for group in (export, check, deploy, bench):
        group.add_parsers(sub)
    return parser


def _verbose() -> None:
    """``--verbose``: the toolkit's DEBUG log (an exporter's full messages when it fell back)
    on stderr; without it the library logs nothing a user sees."""
    import logging

    from ..quiet import LOG

    if not any(getattr(h, "_chanattn_verbose", False) for h in LOG.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._chanattn_verbose = True  # type: ignore[attr-defined]
        LOG.addHandler(handler)
    LOG.setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        _verbose()
    from ..signals import exit_code, interrupts_as_exceptions

    try:
        with interrupts_as_exceptions():  # SIGTERM takes the Ctrl-C path: temp files removed
            if getattr(args, "needs_torch", False):
                require_torch(args.command)
            return int(args.func(args))
    except ChanAttnError as e:  # messages quote files and manifests: one line, no controls
        from ..render.text import escape_controls

        print(f"error: {escape_controls(e)}", file=sys.stderr)
        return EXIT_ERROR
    except SystemExit as e:  # no command of ours exits: a plugin's or a user network's code did
        print(f"error: code outside chanattn_export (a plugin, a --network) called "
              f"sys.exit({e.code!r}); the command did not finish", file=sys.stderr)
        return EXIT_ERROR
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and "can't allocate memory" not in str(e):
            raise  # any other RuntimeError is a bug of ours: keep its traceback
        print("error: out of memory: this machine cannot allocate what the command needs "
              "(use smaller shapes or batches)", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt as e:
        code = exit_code(e)
        what = "terminated (SIGTERM)" if code != EXIT_INTERRUPTED else "interrupted"
        print(f"{what}: stopped cleanly; the output folder is consistent", file=sys.stderr)
        return code
