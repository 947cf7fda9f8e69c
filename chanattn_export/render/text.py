"""The one text-table renderer, and number formats shared by every table."""

from __future__ import annotations

import math
from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
          right_from: int | None = None) -> str:
    """Aligned columns under a dashed rule; columns from ``right_from`` on are right-aligned.
    Cells may come from files (artifact names, case names): control characters are escaped."""
    headers = [escape_controls(h) for h in headers]
    rows = [[escape_controls(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if right_from is not None and i >= right_from else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def sci(x: float) -> str:
    """``6.1e-05``; inf and nan as words."""
    return f"{x:.1e}" if math.isfinite(x) else str(x)


def escape_controls(value: object) -> str:
    """``value`` as text a terminal shows literally: every character that is not printable
    (C0/C1 controls such as ESC, CR and newline; DEL; bidi overrides and other format
    characters; line separators) becomes an escape like ``\\x1b`` or ``\\u202e``. Anything read
    from an untrusted file goes through this before it is printed: a folder must not clear
    the screen, move the cursor or forge a line of the command's output."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(c: str) -> str:
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def num(v: float | None, spec: str) -> str:
    """``format(v, spec)``, or ``-`` for a missing value."""
    return "-" if v is None else format(v, spec)


__all__ = ["escape_controls", "num", "sci", "table"]
