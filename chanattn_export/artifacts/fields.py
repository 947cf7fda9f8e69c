"""The free-form parts of a manifest entry (``inputs``, ``outputs``, ``parity``), checked for the
readers that rely on them: serving and ``inspect`` (torch-free, numpy-free).

The manifest parser keeps these as plain records (lists of objects, an object): an export writes
them, and only some readers need their inner fields. A manifest is input, though, so a reader
that uses a field checks it here first and gets :class:`ArtifactError` naming the field
(``inputs[0].dims[1]``), never an IndexError, KeyError or TypeError from deep inside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ArtifactError

MAX_NAME_CHARS = 255
MAX_DIM = 1 << 31


@dataclass(frozen=True)
class TensorRecord:
    """One model input or output as the manifest records it: dynamic dims are names."""

    name: str
    dims: tuple[int | str, ...]
    dtype: str


@dataclass(frozen=True)
class ParitySummary:
    """The recorded parity verdict: what serving and ``inspect`` show of it."""

    passed: bool | None
    atol: float | None
    rtol: float | None
    checks: int
    worst: dict[str, Any] | None  # the failed check, else the one with the largest needed atol


def _text(v: object, where: str) -> str:
    if not isinstance(v, str) or not v or len(v) > MAX_NAME_CHARS or not v.isprintable():
        raise ArtifactError(f"{where} must be a short printable string; got {_show(v)}")
    return v


def _show(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def tensor_record(records: Sequence[Any], field: str, rank: int | None = 4) -> TensorRecord:
    """``records[0]`` (the manifest's ``inputs`` or ``outputs``) checked: a printable name,
    ``rank`` dims each an int >= 1 or a name, a dtype string."""
    if not isinstance(records, Sequence) or isinstance(records, str) or not records:
        raise ArtifactError(f"{field} must list at least one tensor record")
    return one_tensor(records[0], f"{field}[0]", rank)


def one_tensor(r: object, where: str, rank: int | None = None) -> TensorRecord:
    """One tensor record checked; ``where`` names it in the error (``inputs[0]``)."""
    if not isinstance(r, Mapping):
        raise ArtifactError(f"{where} must be an object with name, dims and dtype")
    name = _text(r.get("name"), f"{where}.name")
    dims = r.get("dims")
    if not isinstance(dims, list) or (rank is not None and len(dims) != rank):
        want = f"a list of {rank}" if rank is not None else "a list of"
        raise ArtifactError(f"{where}.dims must be {want} ints or names; got {_show(dims)}")
    out: list[int | str] = []
    for i, d in enumerate(dims):
        if isinstance(d, bool) or not isinstance(d, (int, str)) \
                or (isinstance(d, int) and not 1 <= d <= MAX_DIM):
            raise ArtifactError(f"{where}.dims[{i}] must be an int >= 1 or a name; "
                                f"got {_show(d)}")
        out.append(_text(d, f"{where}.dims[{i}]") if isinstance(d, str) else d)
    dtype = _text(r.get("dtype", "float32"), f"{where}.dtype")
    return TensorRecord(name, tuple(out), dtype)


def number(v: object, where: str) -> float:
    """A recorded measurement: a JSON number, or ``"inf"``/``"nan"`` (how parity stores them)."""
    if isinstance(v, str) and v.strip().lower() in ("inf", "+inf", "-inf", "nan", "infinity",
                                                    "-infinity"):
        return float(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ArtifactError(f"{where} must be a number; got {_show(v)}")
    return float(v)


def _tolerance(v: object, where: str) -> float | None:
    if v is None:
        return None
    x = number(v, where)
    if not math.isfinite(x) or x < 0:
        raise ArtifactError(f"{where} must be a finite number >= 0; got {_show(v)}")
    return x


def _check(c: object, where: str) -> tuple[tuple[bool, float, float], dict[str, Any]]:
    """(sort key, the check) for a parity check record; its shown fields are checked."""
    if not isinstance(c, Mapping):
        raise ArtifactError(f"{where} must be an object")
    passed = c.get("passed")
    if not isinstance(passed, bool):
        raise ArtifactError(f"{where}.passed must be true or false; got {_show(passed)}")
    for k in ("backend", "case"):
        _text(c.get(k), f"{where}.{k}")
    shape = c.get("shape")
    if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int)
                                          for d in shape):
        raise ArtifactError(f"{where}.shape must be a list of ints; got {_show(shape)}")
    needed = number(c.get("needed_atol"), f"{where}.needed_atol")
    worst_abs = number(c.get("max_abs"), f"{where}.max_abs")
    key = (not passed, -math.inf if math.isnan(needed) else needed,
           -math.inf if math.isnan(worst_abs) else worst_abs)
    return key, dict(c)


def parity_summary(parity: object, field: str = "parity") -> ParitySummary:
    """The ``parity`` record checked: ``passed`` a bool (or absent), tolerances finite and
    >= 0, every check an object with its verdict, case, shape and numbers."""
    if not isinstance(parity, Mapping):
        raise ArtifactError(f"{field} must be an object")
    passed = parity.get("passed")
    if passed is not None and not isinstance(passed, bool):
        raise ArtifactError(f"{field}.passed must be true or false; got {_show(passed)}")
    checks = parity.get("checks", [])
    if not isinstance(checks, list):
        raise ArtifactError(f"{field}.checks must be a list; got {_show(checks)}")
    keyed = [_check(c, f"{field}.checks[{i}]") for i, c in enumerate(checks)]
    worst = max(keyed, key=lambda kc: kc[0])[1] if keyed else None
    return ParitySummary(passed, _tolerance(parity.get("atol"), f"{field}.atol"),
                         _tolerance(parity.get("rtol"), f"{field}.rtol"), len(keyed), worst)


__all__ = ["ParitySummary", "TensorRecord", "number", "one_tensor", "parity_summary",
           "tensor_record"]
