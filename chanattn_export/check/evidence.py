"""Judge an artifact against its stored evidence: the parity inputs and eager outputs kept
beside it (:mod:`..artifacts.evidence`). No eager module and no torch are needed for an ONNX
file, which is what lets a deployment host, or anyone without the exporting code, check it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..artifacts import ManifestEntry
from ..artifacts.evidence import StoredReference, decode_reference
from ..errors import ChanAttnError
from ..spec import Tolerance
from .parity import STORED, InputCase, ParityReport, judge, measure_usable


def judge_stored(runners: Sequence[Any], ref: StoredReference, tolerance: Tolerance,
                 cases: Sequence[str] | None = None) -> ParityReport:
    """Every runner on the stored inputs (those of ``cases``, all when None or none match),
    judged against the stored eager outputs."""
    idx = [i for i, n in enumerate(ref.names) if cases is None or n in cases] \
        or list(range(len(ref.names)))
    inputs = [InputCase(ref.names[i], ref.inputs[i]) for i in idx]
    diffs, skips = measure_usable(None, runners, inputs, outputs=[ref.outputs[i] for i in idx])
    return judge(diffs, tolerance, ref.seed, skips, STORED)


def read_evidence(entry: ManifestEntry, data: bytes,
                  add: Callable[[str, str], None]) -> StoredReference | None:
    """The entry's evidence, its inputs checked against the manifest's input; None (and a
    problem through ``add``) when it cannot be used."""
    from ..runtime.validation import Expected, check_input

    rel = entry.reference or ""
    try:
        ref = decode_reference(data)
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
    return ref


__all__ = ["judge_stored", "read_evidence"]
