"""The check commands: ``parity DIR`` and ``verify DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    json_option,
    manifest_size,
    print_parity,
    progress,
    save_reference_from_args,
    save_test_data_from_args,
    say,
)
from .options import (
    devices_option,
    reference_option,
    runtimes_option,
    test_data_option,
    tolerance_options,
    trust_option,
)


def cmd_parity(args: argparse.Namespace) -> int:
    from ..api import check_parity
    from ..render.folder import problem_line

    with progress(manifest_size(args.dir)) as bar:
        checks = check_parity(args.dir, atol=args.atol, rtol=args.rtol, devices=args.devices,
                              trust_torchscript=args.trust_torchscript, progress=bar.step,
                              localize=args.localize, runtimes=args.runtimes)
    from ..check.summary import unchecked_line

    summary = unchecked_line(checks, "manifest.json")
    for p in [pr for c in checks for pr in c.problems] + ([summary] if summary else []):
        say(problem_line(args.dir, p))
    ran = [c for c in checks if c.skipped is None]
    # One rule with verify: what was not checked warns; --strict makes it a failure.
    ok = all(c.parity is not None and c.parity.passed for c in ran) and \
        not (args.strict and summary is not None)
    # a GPU or runtime named in --devices / --runtimes that could not run: nothing proven there
    ok = ok and not any(k.requested for c in ran if c.parity for k in c.parity.skipped)
    if args.json:
        from ..render.machine import parity_json

        print(parity_json(args.dir, checks, ok, localized=args.localize))
    else:
        ok = print_parity([(c.entry.path, c.parity) for c in ran]) and ok
        for c in checks:
            if c.localized is not None:
                print(c.localized.line(c.entry.path))
    save_reference_from_args(args, args.dir, None)
    save_test_data_from_args(args, args.dir, None)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_verify(args: argparse.Namespace) -> int:
    from ..check.verify import has_errors, verify_folder
    from ..render.folder import problem_line, verify_summary
    from ..spec import Tolerance

    require_artifact_folder(args.dir)  # bad input (exit 2), not a failed check (exit 1)
    with progress(manifest_size(args.dir)) as bar:
        tol = {k: v for k in ("atol", "rtol") if (v := getattr(args, k)) is not None}
        problems = verify_folder(args.dir, tolerance=Tolerance(**tol),
                                 public_key=args.public_key,
                                 trust_torchscript=args.trust_torchscript, devices=args.devices,
                                 progress=bar.step, runtimes=args.runtimes)
    # --strict: anything not proven (a warning: a TorchScript file not loaded, a GPU skipped,
    # an untidy folder) fails too, for pipelines that want "all checked" or nothing
    failed = has_errors(problems) or (args.strict and bool(problems))
    if args.json:
        from ..render.machine import verify_json

        print(verify_json(args.dir, problems, ok=not failed))
        return EXIT_FAILED if failed else EXIT_OK
    for p in problems:
        print(problem_line(args.dir, p))
    print(verify_summary(args.dir, problems, strict=args.strict))
    return EXIT_FAILED if failed else EXIT_OK


def require_artifact_folder(folder: Path) -> None:
    """A path that is no folder, or a folder without a manifest, is the caller's mistake: one
    line on stderr and exit 2, as for parity, sign and report (docs/cli.md, exit codes)."""
    from ..artifacts import MANIFEST
    from ..errors import ArtifactError

    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such folder")
    if not (folder / MANIFEST).exists():
        raise ArtifactError(f"{folder}: no manifest.json (not an artifact folder?)")


def _folder_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, nargs="?", default=Path("artifacts"),
                   help="artifact folder (default ./artifacts)")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("parity", help="re-run parity for an artifact folder from its manifest")
    _folder_argument(p)
    tolerance_options(p)
    devices_option(p)
    runtimes_option(p)
    reference_option(p)
    test_data_option(p)
    json_option(p, "parity")
    trust_option(p)
    strict_option(p)
    p.add_argument("--localize", action="store_true",
                   help="for each failed ONNX block, name the first node that leaves the "
                   "tolerance (with --json: first_divergence per artifact)")
    p.set_defaults(func=cmd_parity)
    help_ = "prove an artifact folder: checksums, loading, quick parity (exit 1 on a problem)"
    p = sub.add_parser("verify", help=help_, description=help_)
    _folder_argument(p)
    tolerance_options(p)
    json_option(p, "verify")
    devices_option(p)
    runtimes_option(p)
    trust_option(p)
    p.add_argument("--public-key", type=Path, default=None, metavar="PUB",
                   help="check the folder's signature.json with this Ed25519 public key (PEM); "
                   "a valid signature also lets TorchScript files load")
    strict_option(p)
    p.set_defaults(func=cmd_verify)


def strict_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on warnings too (what was not checked: a TorchScript file not "
                   "loaded, torch absent, a GPU skipped; files the manifest does not name)")
