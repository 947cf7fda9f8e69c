"""The one text-table renderer, and number formats shared by every table."""

from __future__ import annotations

import math
from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
          right_from: int | None = None) -> str:
    """Aligned columns under a dashed rule; columns from ``right_from`` on are right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if right_from is not None and i >= right_from else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def sci(x: float) -> str:
    """``6.1e-05``; inf and nan as words."""
    return f"{x:.1e}" if math.isfinite(x) else str(x)


def num(v: float | None, spec: str) -> str:
    """``format(v, spec)``, or ``-`` for a missing value."""
    return "-" if v is None else format(v, spec)


__all__ = ["num", "sci", "table"]
