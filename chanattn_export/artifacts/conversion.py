"""The manifest's optional ``conversion`` object: how a reduced-precision file was made.

An fp16 or int8 entry records its precision, the converter or quantizer and its version, the
recipe, and the calibration data's digest (docs/precision.md). Entries without it are fp32,
as every manifest written before reduced precision existed. Torch-free (serving reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ArtifactError
from ..spec import Precision

_SHA256_HEX = set("0123456789abcdef")


def conversion_field(d: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The raw entry's ``conversion`` object, checked (``{}`` when absent: an fp32 entry)."""
    conv = d.get("conversion", {})
    if not isinstance(conv, Mapping):
        raise ArtifactError(f"{where}: 'conversion' must be an object")
    if not conv:
        return {}
    prec = conv.get("precision")
    if prec not in {p.value for p in Precision} or prec == Precision.FP32.value:
        raise ArtifactError(f"{where}: 'conversion.precision' must be fp16 or int8; got {prec!r}")
    calib = conv.get("calibration")
    if calib is not None:
        sha = calib.get("sha256") if isinstance(calib, Mapping) else None
        if not isinstance(sha, str) or len(sha) != 64 or not set(sha) <= _SHA256_HEX:
            raise ArtifactError(f"{where}: 'conversion.calibration.sha256' must be 64 hex digits")
        rng = calib.get("input_range")
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in rng)):
            raise ArtifactError(f"{where}: 'conversion.calibration.input_range' must be "
                                "[min, max]")
    return dict(conv)


def precision_of(conversion: Mapping[str, Any]) -> Precision:
    """fp32 for an entry without a conversion record."""
    return Precision(conversion.get("precision", Precision.FP32.value))


def input_range_of(conversion: Mapping[str, Any]) -> tuple[float, float] | None:
    """The calibration data's [min, max] an int8 entry's inputs are judged within."""
    rng = (conversion.get("calibration") or {}).get("input_range")
    return (float(rng[0]), float(rng[1])) if rng else None


__all__ = ["conversion_field", "input_range_of", "precision_of"]
