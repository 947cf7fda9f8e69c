"""What every command shares: exit codes, stderr lines, the parity table, progress bars."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def say(msg: str) -> None:
    """A progress or status line: stderr, so stdout stays the command's result."""
    print(msg, file=sys.stderr, flush=True)


def print_parity(items: list[tuple[str, Any]]) -> bool:
    """The parity table, then each skip and failure line; False when anything failed."""
    from ..render.parity import failure_lines, parity_table, skip_lines, vacuous_lines

    print(parity_table(items))
    ok = True
    for name, rep in items:
        for line in skip_lines(name, rep) + vacuous_lines(name, rep):
            print(line)
        ok = ok and not (rep.vacuous and not rep.passed)  # its random-weights copy failed
        # A GPU named in --devices that could not be checked fails the command, not the file.
        ok = ok and not any(k.requested for k in rep.skipped)
        for line in failure_lines(name, rep):
            print(line)
            ok = False
    return ok


def progress(total: int | None) -> Any:
    from ..render.progress import Progress

    return Progress(total)


def manifest_size(folder: Path) -> int | None:
    """How many entries ``parity DIR`` / ``verify DIR`` will go through (None: unknown)."""
    from ..artifacts import ArtifactFolder

    try:
        return len(ArtifactFolder(folder).read_manifest(missing_ok=False).entries) or None
    except Exception:  # the command itself reports what is wrong with the folder
        return None


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def require_torch(command: str) -> None:
    """One line, exit 2, where torch is absent (a deployment host), naming the install."""
    from ..check.rebuild import torch_available
    from ..check.summary import TORCH_INSTALL
    from ..errors import MissingDependencyError

    if not torch_available():
        raise MissingDependencyError(
            f"{command} needs torch, which is not installed here: {TORCH_INSTALL} (verify, "
            "parity DIR, inspect, report, sign, keygen and bench --compare work without it)")


def json_option(p: Any, command: str) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output "
                   f'({{"schema": "chanattn_export.{command}/1", ...}}, see docs/cli.md)')


def save_test_data_from_args(args: Any, folder: Path, paths: list[str] | None) -> None:
    """``--save-test-data``: ONNX test-data sets beside each ONNX artifact (check/test_data)."""
    if not getattr(args, "save_test_data", False):
        return
    from ..check.test_data import save_test_data

    out = sys.stderr if getattr(args, "json", False) else sys.stdout  # keep stdout valid JSON
    for saved in save_test_data(folder, paths):
        print(f"test data: {saved.folder}/ ({saved.sets} test_data_set_N)", file=out)


def save_reference_from_args(args: Any, folder: Path, paths: list[str] | None) -> None:
    """``--save-reference DIR``: Polygraphy-format inputs and outputs for each artifact."""
    if getattr(args, "save_reference", None) is None:
        return
    from ..check.reference import save_reference
    from ..spec import Tolerance

    tol = {k: v for k in ("atol", "rtol") if (v := getattr(args, k, None)) is not None}
    out = sys.stderr if getattr(args, "json", False) else sys.stdout  # keep stdout valid JSON
    for ref in save_reference(args.save_reference, folder, paths, tolerance=Tolerance(**tol)):
        print(f"reference: {ref.folder}/" + (f"  check: {ref.command}" if ref.command else ""),
              file=out)
