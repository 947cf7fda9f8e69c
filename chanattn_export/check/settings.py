"""How an artifact is judged, in one object: the bound, the parity seed, where it runs.

Passed from the API through the pipeline to the checks, so a new knob (another runtime, a
precision's measure) is one field here instead of one more keyword on every function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..spec import Tolerance

Devices = str | Sequence[str] | None  # None: the CPU, plus CUDA where it is detected


@dataclass(frozen=True)
class CheckSettings:
    """``tolerance``: the parity bound; ``seed``: of the parity inputs; ``devices``: where the
    file runs (``"cpu"``, ``"cpu,cuda"``, ...; None: the CPU plus CUDA where detected)."""

    tolerance: Tolerance = field(default_factory=Tolerance)
    seed: int = 0
    devices: Devices = None


__all__ = ["CheckSettings", "Devices"]
