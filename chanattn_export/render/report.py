"""``report DIR``: gather an artifact folder and benchmark results into one HTML page.

The end of the data flow (spec -> ... -> parity/benchmark -> report): this module only reads
what the other stages wrote (the manifest, results files) and hands it to
:mod:`chanattn_export.render.html`; it measures nothing and re-checks nothing. The page is
written atomically, like every file the toolkit writes.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from ..artifacts import ArtifactFolder, ManifestEntry
from ..artifacts.fields import parity_summary
from ..bench.files import read_results
from ..check.parity import ParityReport
from ..errors import ArtifactError, InvalidSpecError, first_line
from ..fileio import write_atomic
from .report_data import ArtifactView, ReportData


def bench_files(path: str | os.PathLike[str]) -> list[Path]:
    """A results file, or every ``*.json`` results file directly in a folder."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*.json") if f.is_file())
        if not files:
            raise InvalidSpecError(f"--bench {p}: no .json results file in this folder")
        return files
    if not p.exists():
        raise InvalidSpecError(f"--bench {p}: no such file or folder")
    return [p]


def _view(entry: ManifestEntry) -> ArtifactView:
    if not entry.parity:
        return ArtifactView(entry, None, "no parity record in the manifest")
    try:
        parity_summary(entry.parity)  # names the malformed field, if any
        return ArtifactView(entry, ParityReport.from_dict(entry.parity))
    except ArtifactError as e:
        return ArtifactView(entry, None, f"unreadable parity record: {e}")
    except Exception as e:  # untrusted record: whatever from_dict trips over is shown, not raised
        return ArtifactView(entry, None, f"unreadable parity record ({type(e).__name__}: "
                                         f"{first_line(e)})")


def gather(folder: str | os.PathLike[str],
           bench: str | os.PathLike[str] | None = None) -> ReportData:
    """Everything the page shows; the folder must have a readable manifest."""
    f = ArtifactFolder(folder)
    if not f.root.is_dir():
        raise ArtifactError(f"{f.root}: no such folder")
    manifest = f.read_manifest(missing_ok=False)
    results = [(p, read_results(p)) for p in bench_files(bench)] if bench is not None else []
    return ReportData(f.root, [_view(e) for e in manifest.entries], results,
                      datetime.now(timezone.utc).isoformat(timespec="seconds"))


def write_report(data: ReportData, out: str | os.PathLike[str]) -> Path:
    """Render and write the page in one atomic step."""
    from .html import render_report

    out = Path(out)
    if out.is_dir():
        out = out / "report.html"
    anc = out.parent  # the nearest existing ancestor must be a folder: check before mkdir
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise ArtifactError(f"cannot write the report {out}: {anc} is not a folder; nothing "
                            "was written")
    page = render_report(data).encode("utf-8")
    try:
        return write_atomic(out, page, make_parents=True)
    except OSError as e:  # a parent that is a regular file, a read-only or full disk
        where = f" ({e.filename})" if e.filename else ""
        raise ArtifactError(f"cannot write the report {out}: {e.strerror or e}{where}; "
                            "nothing was written") from None


__all__ = ["ArtifactView", "ReportData", "bench_files", "gather", "write_report"]
