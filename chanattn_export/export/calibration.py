"""Calibration data for reduced-precision exports: the user's, or the parity generator's.

int8 needs activation ranges and fp16 needs to know which tensors grow past float16's range;
both are measured by running the float32 graph on calibration inputs. ``--calibration PATH``
reads a folder of ``.npy`` files (each one sample ``[C, H, W]`` or a batch ``[N, C, H, W]``, in
the model's layout) or a Polygraphy JSON inputs file (``polygraphy run --save-inputs``, or the
toolkit's ``--save-reference``). Without it the parity generator's random inputs are used, at
seeds the parity check never uses, with a warning: real data calibrates better.

The digest recorded in the manifest is over the arrays as used (shape and float32 bytes, in
order), so the same data gives the same digest whichever file format carried it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidSpecError

MAX_BYTES = 2 << 30  # all calibration files together
MAX_FILES = 10_000
PARITY_SOURCE = "parity-generator"
WARNING = ("calibrating on the parity generator's random inputs; real data calibrates better "
           "(--calibration PATH: a folder of .npy files or a Polygraphy JSON inputs file)")


@dataclass(frozen=True)
class Calibration:
    """The batches the reduced-precision converter measures ranges on, and where they came from."""

    batches: tuple[np.ndarray, ...]
    source: str  # PARITY_SOURCE, or the path given
    warning: str | None = None  # shown once to the user (default data)

    @property
    def samples(self) -> int:
        return sum(int(b.shape[0]) for b in self.batches)

    @property
    def sha256(self) -> str:
        return digest(self.batches)

    def to_dict(self) -> dict[str, object]:
        """What the manifest records: the source, the digest, how many samples."""
        return {"source": self.source, "sha256": self.sha256, "samples": self.samples}


def digest(batches: Sequence[np.ndarray]) -> str:
    """sha256 over each array's shape and float32 bytes, in order."""
    h = hashlib.sha256()
    for b in batches:
        a = np.ascontiguousarray(b, dtype=np.float32)
        h.update(json.dumps(list(a.shape)).encode() + b"\n")
        h.update(a.tobytes())
    return h.hexdigest()


def load_calibration(path: str | os.PathLike[str], input_name: str = "input") -> Calibration:
    """The user's calibration data at ``path`` as float32 batches (the caller checks them
    against the model's input)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix == ".npy")
        if not files:
            raise InvalidSpecError(f"--calibration {p}: no .npy files in the folder")
        if len(files) > MAX_FILES:
            raise InvalidSpecError(f"--calibration {p}: {len(files)} files, at most {MAX_FILES}")
        budget = [MAX_BYTES]
        arrays = [(f.name, _npy(_read(f, budget), f.name)) for f in files]
    elif p.is_file():
        arrays = _polygraphy_json(_read(p, [MAX_BYTES]), input_name)
    else:
        raise InvalidSpecError(f"--calibration {p}: no such file or folder")
    batches = []
    for name, a in arrays:
        if a.ndim == 3:
            a = a[None]
        if a.dtype.kind != "f":
            raise InvalidSpecError(f"--calibration {p}: {name} holds {a.dtype}, not floats")
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not np.isfinite(a).all():
            raise InvalidSpecError(f"--calibration {p}: {name} holds NaN or Inf")
        batches.append(a)
    return Calibration(tuple(batches), str(p))


def _read(path: Path, budget: list[int]) -> bytes:
    """A regular file's bytes within what is left of the budget (a FIFO or a link to a device
    is refused before it is read)."""
    from ..errors import ArtifactError
    from ..fileio.bounded import read_bounded

    try:
        data = read_bounded(path, budget[0], "calibration file")
    except ArtifactError as e:
        raise InvalidSpecError(f"--calibration: {e} (calibration data: at most "
                               f"{MAX_BYTES >> 30} GiB in all)") from None
    budget[0] -= len(data)
    return data


def _npy(data: bytes, name: str) -> np.ndarray:
    try:
        a = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:  # not .npy, or object arrays (pickles)
        raise InvalidSpecError(f"--calibration: {name} is not a plain .npy array: {e}") from None
    if not isinstance(a, np.ndarray) or a.ndim not in (3, 4):
        shape = getattr(a, "shape", None)
        raise InvalidSpecError(f"--calibration: {name} must be one sample [C, H, W] or a batch "
                               f"[N, C, H, W] (in the model's layout); got shape {shape}")
    return a


def _polygraphy_json(data: bytes, input_name: str) -> list[tuple[str, np.ndarray]]:
    """Polygraphy's inputs file: a list of feeds ``{name: {"array": base64 .npy}}``. Only
    arrays are decoded (never Polygraphy's other classes, some of which unpickle)."""
    try:
        feeds = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidSpecError(f"--calibration: not a .npy folder nor a JSON file: {e}") from None
    if not isinstance(feeds, list) or not feeds or not all(isinstance(f, dict) for f in feeds):
        raise InvalidSpecError("--calibration: a Polygraphy inputs file is a non-empty list of "
                               "{input name: array} feeds")
    out = []
    for i, feed in enumerate(feeds):
        key = input_name if input_name in feed else next(iter(feed), None) \
            if len(feed) == 1 else None
        if key is None:
            raise InvalidSpecError(f"--calibration: feed {i} has no input {input_name!r} "
                                   f"(has {', '.join(map(str, feed)) or 'nothing'})")
        enc = feed[key]
        if not isinstance(enc, dict) or not isinstance(enc.get("array"), str):
            raise InvalidSpecError(f"--calibration: feed {i} input {key!r} is not a "
                                   "Polygraphy-encoded array")
        try:
            raw = base64.b64decode(enc["array"].encode(), validate=True)
        except ValueError as e:
            raise InvalidSpecError(f"--calibration: feed {i}: bad base64: {e}") from None
        out.append((f"feed {i}", _npy(raw, f"feed {i}")))
    return out


__all__ = ["PARITY_SOURCE", "WARNING", "Calibration", "digest", "load_calibration"]
