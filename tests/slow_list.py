"""The measured-slow test functions (tests/slow_tests.txt, see scripts/slow_tests.py)."""

from __future__ import annotations

from pathlib import Path

SLOW_LIST = Path(__file__).parent / "slow_tests.txt"


def slow_functions() -> set[str]:
    """``path::function`` of every test function listed in slow_tests.txt."""
    out = set()
    for line in SLOW_LIST.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            out.add(name)
    return out
