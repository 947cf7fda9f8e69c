"""Parity checks that prove nothing, and the check that proves what they cannot.

At some weights a block computes a trivial function: GCT at its paper's initialisation
(``gamma = beta = 0``) is the identity, a gate whose MLP weights are zero is the constant 0.5.
Parity then compares the graph with ``x`` (or ``0.5 * x``), so an exporter that dropped the
block would pass with ``max_abs`` 0. :func:`vacuity` tells, from the eager outputs on the parity
inputs, whether the parity tolerance can tell the block from such a function: the output does
not depend on the input, or it is the input times a fixed gate (the identity included).

Where it cannot, :func:`prove_with_random_weights` exports a copy whose parameters are drawn at
random (seeded, recorded) through the same export and judges it on the same inputs; its checks
join the report as backend ``<backend> (random weights)``, and the report's ``vacuous`` record
says why and how that went. A vacuous check is never shown as a plain PASS (render/parity.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..spec import InputSpec, ModelSpec, Tolerance
from .cases import make_cases
from .parity import CheckResult, InputCase, ParityReport, compare, input_scale

RANDOM_SEED = 1  # seed of the random-weights copy: recorded with its verdict
RANDOM_STD = 0.5  # N(0, 0.5^2): large enough that every parameter changes the output
SUFFIX = " (random weights)"


def _within(expected: np.ndarray, actual: np.ndarray, x: np.ndarray, tol: Tolerance) -> bool:
    d = compare("", "", expected, actual, input_scale(x))
    return d.shape_ok and d.nan_mismatch == 0 and d.needed_atol(tol.rtol) <= tol.atol


def vacuity(cases: Sequence[InputCase], outputs: Sequence[np.ndarray],
            tolerance: Tolerance) -> str | None:
    """Why parity on ``cases`` cannot tell the block from a trivial function, or None.

    Inputs are grouped by shape; a group needs two inputs to tell anything. Vacuous when, in
    every group and within ``tolerance``: the outputs are all the same (the input does not
    matter), or each output is its input (the identity), or its input times the gate read off
    the group's first input (a gate that does not depend on the input).
    """
    groups: dict[tuple[int, ...], list[tuple[np.ndarray, np.ndarray]]] = {}
    for c, y in zip(cases, outputs, strict=True):
        groups.setdefault(tuple(c.x.shape), []).append((c.x.astype(np.float64),
                                                        np.asarray(y, np.float64)))
    usable = [g for g in groups.values() if len(g) >= 2]
    if not usable:
        return None
    if all(_within(y, g[0][1], x, tolerance) for g in usable for x, y in g[1:]):
        return "ignores its input (every output is the same)"
    if any(y.shape != x.shape for g in usable for x, y in g):
        return None
    if all(_within(y, x, x, tolerance) for g in usable for x, y in g):
        return "is the identity (every output equals its input)"
    for g in usable:
        x0, y0 = g[0]
        gate = np.divide(y0, x0, out=np.ones_like(y0), where=x0 != 0)
        if not all(_within(y, gate * x, x, tolerance) for x, y in g[1:]):
            return None
    return "multiplies its input by a fixed gate that does not depend on the input"


def random_weights_copy(net: Any, seed: int = RANDOM_SEED) -> Any | None:
    """A deep copy of ``net`` whose floating-point parameters are drawn from N(0, 0.5^2)
    (buffers, e.g. fixed DCT filters or BatchNorm statistics, are kept); None when it has no
    parameters to draw."""
    import copy

    import torch

    params = [p for p in net.parameters() if p.is_floating_point()]
    if not params:
        return None
    twin = copy.deepcopy(net).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in twin.parameters():
            if p.is_floating_point():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * RANDOM_STD)
    return twin


def eager_outputs(net: Any, cases: Sequence[InputCase], model: ModelSpec,
                  inp: InputSpec | None) -> list[np.ndarray]:
    from ..runtime import EagerRunner
    from ..runtime.validation import Expected

    runner = EagerRunner(net, expected=Expected.from_spec(model, inp))
    return [runner.infer(c.x) for c in cases]


def prove_with_random_weights(report: ParityReport, net: Any, spec: Any,
                              cases: Sequence[InputCase], outputs: Sequence[np.ndarray],
                              judge_copy: Callable[[Any, list[np.ndarray]], ParityReport]
                              | None) -> ParityReport:
    """``report`` unchanged when its checks prove something; otherwise with the vacuous record
    and the checks of a random-weights copy of ``net`` (an ``ExportSpec``'s ``spec``), which
    ``judge_copy(copy, its eager outputs)`` exports the same way and judges on ``cases`` (the
    export side provides it: this module imports nothing of it). ``outputs``: ``net``'s eager
    outputs on ``cases``. Without a proof (``judge_copy`` None: an fp16 or int8 file, whose
    conversion step the copy would also need), the record says why."""
    if not report.passed:  # a failed check already proves the graph wrong
        return report
    why = vacuity(cases, outputs, report.tolerance)
    if why is None:
        return report
    record: dict[str, Any] = {"reason": why, "random_weights": None, "unproven": None}
    if judge_copy is None:
        record["unproven"] = "no random-weights check for reduced-precision files yet"
        return replace(report, vacuous=record)
    twin = random_weights_copy(net)
    if twin is None:
        record["unproven"] = "the block has no parameters to draw at random"
        return replace(report, vacuous=record)
    twin_outputs = eager_outputs(twin, cases, spec.model, spec.input)
    if vacuity(cases, twin_outputs, report.tolerance) is not None:
        record["unproven"] = "a copy with random weights is trivial too"
        return replace(report, vacuous=record)
    from ..errors import ChanAttnError, first_line

    try:
        other = judge_copy(twin, twin_outputs)
    except ChanAttnError as e:  # the export path cannot even build the block's function
        record["random_weights"] = {"seed": RANDOM_SEED, "passed": False, "checks": 0,
                                    "error": first_line(e)}
        return replace(report, vacuous=record)
    rows = tuple(replace(c, backend=c.backend + SUFFIX) for c in other.checks)
    record["random_weights"] = summary(other, RANDOM_SEED)
    return replace(report, checks=report.checks + rows, vacuous=record)


def summary(report: ParityReport, seed: int) -> dict[str, Any]:
    """The random-weights verdict kept in the manifest (re-checks carry it forward)."""
    worst = max((c.needed_atol for c in report.checks), default=0.0)
    return {"seed": seed, "passed": report.passed, "checks": len(report.checks),
            "worst_needed_atol": worst if np.isfinite(worst) else str(worst)}


def carry_forward(report: ParityReport | None, entry: Any, ref: Any = None,
                  net: Any = None) -> ParityReport | None:
    """A re-check (``parity DIR``, ``verify``) of a manifest ``entry`` that is vacuous, told
    from its stored evidence ``ref`` (torch-free) or else the block ``net`` rebuilt from its
    weights: its own checks prove nothing, so the report is marked, with the export-time
    random-weights verdict the manifest stored (none: never proven, e.g. exported before
    this check existed)."""
    if report is None or not report.checks:
        return report
    if ref is not None:
        cases = [InputCase(n, x) for n, x in zip(ref.names, ref.inputs, strict=True)]
        outs = list(ref.outputs)
    elif net is not None:
        cases = make_cases(entry.model, entry.input, report.seed)
        outs = eager_outputs(net, cases, entry.model, entry.input)
    else:
        return report
    why = vacuity(cases, outs, report.tolerance)
    if why is None:
        return report
    stored = entry.parity.get("vacuous")
    old = stored if isinstance(stored, dict) else {}
    rw = old.get("random_weights")
    record = {"reason": why, "random_weights": rw if isinstance(rw, dict) else None,
              "unproven": old.get("unproven") if isinstance(old.get("unproven"), str)
              else None if isinstance(rw, dict) else
              "no random-weights check recorded (exported before it existed): re-export"}
    return replace(report, vacuous=record)


def is_random_row(c: CheckResult) -> bool:
    return c.backend.endswith(SUFFIX)


def copy_failed_only(report: ParityReport) -> str | None:
    """Why a failure is not localised in the exported file: only the random-weights copy
    failed, and the file at hand (the block at its own weights) matches its block."""
    if report.failures and all(map(is_random_row, report.failures)):
        return ("only the copy with random weights fails: the file matches its block at the "
                "block's own weights, but the graph does not compute the block's function")
    return None


def note(report: ParityReport) -> str | None:
    """One sentence on a vacuous report: why its checks prove nothing, and what does."""
    v = report.vacuous
    if not v:
        return None
    head = f"parity at these weights proves nothing: the block {v.get('reason')}"
    rw = v.get("random_weights")
    if isinstance(rw, dict):
        if rw.get("error"):
            how = f"FAIL: exporting it failed: {rw['error']}"
        else:
            how = (f"{'PASS' if rw.get('passed') else 'FAIL'} ({rw.get('checks')} checks"
                   + (f", rows '{SUFFIX.strip(' ()')}')" if any(map(is_random_row,
                                                                   report.checks)) else
                      ", at export time, recorded in the manifest)"))
        return (f"{head}; a copy with random weights (seed {rw.get('seed')}) exported the same "
                f"way: {how}")
    return f"{head}; not proven: {v.get('unproven') or 'no random-weights check'}"


def vacuous_problems(report: ParityReport | None) -> list[tuple[str, bool]]:
    """verify's line for a vacuous entry and whether it is an error: a failed random-weights
    copy is, an unproven one is a warning (``--strict`` fails it); a proven one says nothing."""
    if report is None or not report.vacuous:
        return []
    rw = report.vacuous.get("random_weights")
    if isinstance(rw, dict) and rw.get("passed") is True:
        return []
    return [(note(report) or "", isinstance(rw, dict))]


__all__ = ["RANDOM_SEED", "SUFFIX", "carry_forward", "copy_failed_only", "is_random_row", "note",
           "prove_with_random_weights", "random_weights_copy", "summary", "vacuity",
           "vacuous_problems"]
