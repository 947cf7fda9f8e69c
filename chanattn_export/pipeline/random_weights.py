"""The export side of a vacuous parity check (``check/vacuous.py``): a copy of the subject with
random weights goes down the subject's own export and is judged like it. Here, because the
check side imports nothing of the export side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..artifacts.evidence import USER
from ..check.parity import InputCase, ParityReport, judge, measure_usable
from ..check.settings import CheckSettings
from ..export.subject import Subject


def judge_copy(subject: Subject, settings: CheckSettings, cases: Sequence[InputCase],
               ) -> Callable[[Any, list[np.ndarray]], ParityReport]:
    """``run(copy, its eager outputs)``: ``copy`` exported the way ``subject`` is (a block's or
    a network's export) and judged on ``cases`` at ``settings``."""
    from ..export import export_bytes
    from ..runtime import runners_for
    from ..runtime.validation import Expected

    spec = subject.spec

    def run(twin: Any, outputs: list[np.ndarray]) -> ParityReport:
        data = export_bytes(twin, spec, registered=subject.source != USER).data
        runners = runners_for(spec.format, data, twin,
                              Expected.from_spec(spec.model, spec.input), settings.devices)
        diffs, skips = measure_usable(None, runners, cases, outputs=outputs)
        return judge(diffs, settings.tolerance, settings.seed, skips)

    return run


__all__ = ["judge_copy"]
