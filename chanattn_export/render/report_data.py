"""What the HTML report shows: plain records, gathered by :mod:`.report`, drawn by :mod:`.html`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts import ManifestEntry
from ..bench.records import ResultsFile
from ..check.parity import ParityReport


@dataclass(frozen=True)
class ArtifactView:
    """One manifest entry and its recorded parity verdict (None when unreadable)."""

    entry: ManifestEntry
    parity: ParityReport | None
    parity_problem: str | None = None


@dataclass
class ReportData:
    folder: Path
    artifacts: list[ArtifactView]
    bench: list[tuple[Path, ResultsFile]] = field(default_factory=list)
    generated: str = ""


__all__ = ["ArtifactView", "ReportData"]
