"""The deployment and trust commands: ``inspect``, ``keygen`` and ``sign``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import EXIT_FAILED, EXIT_OK, json_option

GRAPH_RUN_S = 10.0  # check/graph_run.py's default wall time (not imported: keeps --help fast)


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..check.inspect import inspect_path
    from ..render.inspect import inspect_json, inspect_text

    if args.run_graph is not None and not args.run_graph > 0:
        from ..errors import InvalidSpecError

        raise InvalidSpecError(f"--run-graph takes seconds > 0; got {args.run_graph:g}")
    record = inspect_path(args.target, lint=not args.no_lint, run_graph=args.run_graph,
                          public_key=args.public_key)
    print(inspect_json(record) if args.json else inspect_text(record))
    # --public-key makes inspect a check: a signature that does not match fails it
    return EXIT_FAILED if record["signature_info"]["valid"] is False else EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    from ..artifacts.signing import sign_folder

    print(f"signed {args.dir}: wrote {sign_folder(args.dir, args.key)}")
    return EXIT_OK


def cmd_keygen(args: argparse.Namespace) -> int:
    from ..artifacts.signing import generate_key

    pub = generate_key(args.key)
    print(f"wrote {args.key} (private, mode 0600: keep it secret) and {pub} (public)")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    help_ = "describe an artifact folder, .onnx or .pt file (a .pt is never loaded)"
    p = sub.add_parser("inspect", help=help_, description=help_)
    p.add_argument("target", type=Path, metavar="FILE_OR_DIR")
    json_option(p, "inspect")
    p.add_argument("--no-lint", action="store_true", help="skip the graph lint of ONNX files")
    p.add_argument("--public-key", type=Path, default=None, metavar="PUB",
                   help="check the folder's signature.json with this Ed25519 public key (PEM): "
                   "exit 1 when it does not match (needs cryptography)")
    p.add_argument("--run-graph", type=float, nargs="?", const=GRAPH_RUN_S, default=None,
                   metavar="SECONDS", help="also run each ONNX graph once at an unseen shape "
                   "(the lint's unseen-shape rule), in a child process limited to SECONDS "
                   f"(default {GRAPH_RUN_S:g}) and 1 GiB; without it inspect never executes "
                   "a graph")
    p.set_defaults(func=cmd_inspect)
    help_ = "sign every file of an artifact folder with an Ed25519 private key (PEM)"
    p = sub.add_parser("sign", help=help_, description=help_)
    p.add_argument("dir", type=Path, help="artifact folder")
    p.add_argument("--key", type=Path, required=True, help="private key (kept outside DIR)")
    p.set_defaults(func=cmd_sign)
    help_ = "write a new Ed25519 key pair: KEY (private, 0600) and KEY.pub"
    p = sub.add_parser("keygen", help=help_, description=help_)
    p.add_argument("key", type=Path, help="private key file to create (never inside DIR)")
    p.set_defaults(func=cmd_keygen)
