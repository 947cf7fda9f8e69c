"""Judge an artifact against its stored evidence: the parity inputs and eager outputs kept
beside it (:mod:`..artifacts.evidence`), with no eager model at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..artifacts import ManifestEntry
from ..artifacts.evidence import StoredReference, decode_reference
from ..errors import ChanAttnError
from ..spec import Tolerance
from .parity import InputCase, ParityReport, judge, measure_usable

Devices = Any  # str | Sequence[str] | None, as in pipeline


def judge_stored(runners: Sequence[Any], ref: StoredReference, tolerance: Tolerance,
                 cases: Sequence[str] | None = None) -> ParityReport:
    """Every runner on the stored inputs (those of ``cases``, all when None or none match),
    judged against the stored eager outputs."""
    idx = [i for i, n in enumerate(ref.names) if cases is None or n in cases] \
        or list(range(len(ref.names)))
    inputs = [InputCase(ref.names[i], ref.inputs[i]) for i in idx]
    diffs, skips = measure_usable(None, runners, inputs, outputs=[ref.outputs[i] for i in idx])
    return judge(diffs, tolerance, ref.seed, skips)


def compare_stored(entry: ManifestEntry, data: Mapping[str, bytes], tolerance: Tolerance,
                   cases: Sequence[str], add: Callable[[str, str], None],
                   devices: Devices = None) -> ParityReport | None:
    """``verify`` / ``parity DIR`` for a user network: its checked files' ``data`` only.
    Problems go to ``add(path, message)``; None when parity could not run."""
    from ..runtime import runners_for
    from ..runtime.select import EAGER_CUDA
    from ..runtime.validation import Expected, check_input

    rel = entry.reference or ""
    try:
        ref = decode_reference(data[rel])
    except ChanAttnError as e:
        add(rel, str(e))
        return None
    expected = Expected.from_spec(entry.model, entry.input)
    for i, x in enumerate(ref.inputs):
        try:
            check_input(x, expected)
        except ChanAttnError as e:
            add(rel, f"stored input {i} does not fit the manifest's input: {e}")
            return None
    try:  # no eager network here: eager-on-CUDA (TorchScript on a GPU) cannot be a backend
        runners = [r for r in runners_for(entry.format, data[entry.path], None, expected,
                                          devices) if r.name != EAGER_CUDA]
    except ChanAttnError as e:
        add(entry.path, f"cannot load: {e}")
        return None
    try:
        if entry.conversion:  # fp16/int8: their own runners and bounds (check/reduced.py)
            from .reduced import judge_entry

            idx = [i for i, n in enumerate(ref.names) if n in cases] or range(len(ref.names))
            return judge_entry(entry, data[entry.path],
                               [InputCase(ref.names[i], ref.inputs[i]) for i in idx], None,
                               tolerance, ref.seed, outputs=[ref.outputs[i] for i in idx])
        return judge_stored(runners, ref, tolerance, cases)
    except ChanAttnError as e:
        add(entry.path, f"cannot run: {e}")
        return None


__all__ = ["compare_stored", "judge_stored"]
