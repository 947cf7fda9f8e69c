"""The CLI's trust options and commands (``sign``, ``keygen``, ``--public-key``,
``--trust-torchscript``), kept apart so ``cli.py`` stays a short list of commands. Only
``cli.py`` imports this module."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK = 0


def cmd_sign(args: argparse.Namespace) -> int:
    from .artifacts.signing import sign_folder

    print(f"signed {args.dir}: wrote {sign_folder(args.dir, args.key)}")
    return EXIT_OK


def cmd_keygen(args: argparse.Namespace) -> int:
    from .artifacts.signing import generate_key

    pub = generate_key(args.key)
    print(f"wrote {args.key} (private, mode 0600: keep it secret) and {pub} (public)")
    return EXIT_OK


def trust_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-torchscript", action="store_true",
                   help="load TorchScript files (programs that run code when loaded); only "
                   "for folders you trust")


def public_key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--public-key", type=Path, default=None, metavar="PUB",
                   help="check the folder's signature.json with this Ed25519 public key (PEM); "
                   "a valid signature also lets TorchScript files load")


def add_sign_commands(sub) -> None:  # type: ignore[no-untyped-def]
    help_ = "sign every file of an artifact folder with an Ed25519 private key (PEM)"
    p = sub.add_parser("sign", help=help_, description=help_)
    p.add_argument("dir", type=Path, help="artifact folder")
    p.add_argument("--key", type=Path, required=True, help="private key (kept outside DIR)")
    p.set_defaults(func=cmd_sign)
    help_ = "write a new Ed25519 key pair: KEY (private, 0600) and KEY.pub"
    p = sub.add_parser("keygen", help=help_, description=help_)
    p.add_argument("key", type=Path, help="private key file to create (never inside DIR)")
    p.set_defaults(func=cmd_keygen)


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
