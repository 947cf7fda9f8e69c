"""Machine-readable (``--json``) output of ``parity DIR`` and ``verify DIR``: versioned schemas.

Each document carries ``"schema": "chanattn_export.<command>/<version>"``; fields are only added
within a version, and a removal or rename bumps it. ``inspect --json`` is
``chanattn_export.inspect/1`` (built in ``check/inspect.py``). docs/cli.md documents all three.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

PARITY_SCHEMA = "chanattn_export.parity/1"
VERIFY_SCHEMA = "chanattn_export.verify/1"


def parity_json(folder: str | os.PathLike[str], checks: Sequence[Any], ok: bool,
                localized: bool = False) -> str:
    """``checks``: the ``EntryCheck`` list of ``parity DIR``; ``ok``: the command's verdict
    (every artifact that ran passed; with ``--strict``, none was skipped); ``localized``
    (``--localize``): each artifact also carries ``first_divergence`` (null when nothing
    failed)."""
    arts = [{"path": c.entry.path, "sha256": c.entry.sha256, "format": str(c.entry.format),
             "passed": c.parity is not None and c.parity.passed,
             "skipped": c.skipped, "not_checked": list(c.limits),
             "parity": c.parity.to_dict() if c.parity is not None else None,
             **(_localized(c) if localized else {})} for c in checks]
    doc = {"schema": PARITY_SCHEMA, "folder": str(folder), "passed": bool(arts) and ok,
           "artifacts": arts}
    return json.dumps(doc, indent=2)


def _localized(check: Any) -> dict[str, Any]:
    found = getattr(check, "localized", None)
    return found.to_dict() if found is not None else {"first_divergence": None}


def verify_json(folder: str | os.PathLike[str], problems: Sequence[Any], ok: bool) -> str:
    """``problems``: the ``Problem`` list of ``verify DIR`` (errors and warnings); ``ok``:
    the command's verdict (no errors; with ``--strict``, no warnings either)."""
    rows = [{"path": p.path, "severity": p.severity, "message": p.message} for p in problems]
    doc = {"schema": VERIFY_SCHEMA, "folder": str(folder), "ok": ok, "problems": rows}
    return json.dumps(doc, indent=2)


__all__ = ["PARITY_SCHEMA", "VERIFY_SCHEMA", "parity_json", "verify_json"]
