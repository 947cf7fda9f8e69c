"""Why an exporter failed, in one line (the manifest's ``fallback_reason``), with the rest kept
for ``--verbose``.

torch.onnx's own message is a page of advice with ANSI colours whose cause is an "Exception
summary" section; when torch.export could not keep H and W dynamic, the useful part (the sizes
it needs) was only logged, by ``torch._guards``. This turns both into one plain line.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GUARD = re.compile(r"Not all values of (\w+) = (\S+) in the specified range satisfy the "
                    r"generated guard (.+)")
_SUMMARY = "## Exception summary"


def plain(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def needed_ranges(logged: str) -> list[str]:
    """``["29 <= height", ...]``: the ranges torch.export said a dynamic dim must be in."""
    out = []
    for m in _GUARD.finditer(plain(logged)):
        name, source, guard = m.groups()
        terms = [t.strip().replace(source, name) for t in guard.split(" and ")]
        out.append(" and ".join(t for t in terms if "IntInfinity" not in t))
    return list(dict.fromkeys(out))


def reason(e: BaseException, logged: str = "") -> str:
    """One line: the ranges torch.export needed for the dynamic dims when it logged them (a
    stable message: its assertion text names the dims in no fixed order), else the exception's
    own summary (or first line)."""
    ranges = needed_ranges(logged)
    if ranges:
        return (f"torch.export needs {', '.join(ranges)}, but the export declares every size "
                "from 1")
    text = plain(str(e))
    if _SUMMARY in text:
        text = text.split(_SUMMARY, 1)[1]
    return next((t.strip()[:300] for t in text.splitlines() if t.strip()), type(e).__name__)


__all__ = ["needed_ranges", "plain", "reason"]
