"""CLI pieces for deployment: ``inspect`` and ``--save-reference`` (parsing and printing only).

Kept beside ``cli.py`` so that module stays small; nothing but ``cli.py`` imports this.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK = 0


def reference_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save-reference", type=Path, default=None, metavar="DIR",
                   help="write the parity inputs and eager outputs in Polygraphy's JSON format "
                   "into DIR/<artifact>/ (needs polygraphy)")


def json_option(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output "
                   f'({{"schema": "chanattn_export.{command}/1", ...}}, see README)')


def save_reference_from_args(args: argparse.Namespace, folder: Path,
                             paths: list[str] | None) -> None:
    if getattr(args, "save_reference", None) is None:
        return
    from .reference import save_reference
    from .spec import Tolerance

    tol = {k: v for k in ("atol", "rtol") if (v := getattr(args, k, None)) is not None}
    out = sys.stderr if getattr(args, "json", False) else sys.stdout  # keep stdout valid JSON
    for ref in save_reference(args.save_reference, folder, paths, tolerance=Tolerance(**tol)):
        print(f"reference: {ref.folder}/" + (f"  check: {ref.command}" if ref.command else ""),
              file=out)


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspection import inspect_path
    from .render.inspect import inspect_json, inspect_text

    record = inspect_path(args.target, lint=not args.no_lint)
    print(inspect_json(record) if args.json else inspect_text(record))
    return EXIT_OK


def add_inspect_parser(sub) -> None:  # type: ignore[no-untyped-def]
    help_ = "describe an artifact folder, .onnx or .pt file (a .pt is never loaded)"
    p = sub.add_parser("inspect", help=help_, description=help_)
    p.add_argument("target", type=Path, metavar="FILE_OR_DIR")
    json_option(p, "inspect")
    p.add_argument("--no-lint", action="store_true", help="skip the graph lint of ONNX files")
    p.set_defaults(func=cmd_inspect)
