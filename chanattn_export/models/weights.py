"""Loading and saving reference weights without ever unpickling arbitrary objects.

Weights come from safetensors, from ``torch.save`` state dicts read with
``weights_only=True``, or from a seeded random init so the same command gives the same model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import InvalidSpecError, WeightsError

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


MAX_SEED = 2**64 - 1  # torch's generator takes a 64-bit seed


def seeded(model_factory, seed: int) -> nn.Module:
    """Build a model with torch's default init drawn from ``seed``, leaving global RNG as found."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidSpecError(f"seed must be an integer in [0, 2**64 - 1], got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_factory()


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a safetensors file or a ``torch.save``-d state dict; never full unpickling."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"weights file not found: {p}")
    with open(p, "rb") as f:
        head = f.read(8)
    if p.suffix == ".safetensors" or not _looks_like_torch_file(head):
        return _read_safetensors(p)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickled code; torch raises many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"cannot load {p} as a weights-only torch state dict: {first}") from e
    return _unwrap(obj, p)


def _looks_like_torch_file(head: bytes) -> bool:
    # torch.save writes a zip archive ("PK\x03\x04"); very old files are raw pickles (0x80).
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _read_safetensors(p: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(p), device="cpu")
    except (SafetensorError, OSError, ValueError, OverflowError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"cannot read {p} as safetensors or a torch state dict: {first}") \
            from None


def _unwrap(obj: object, p: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping) and len(obj) <= 3:
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise WeightsError(f"{p} does not hold a state dict of name -> tensor")
    return dict(obj)


def apply_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor],
                     source: str = "weights") -> None:
    """Load ``state`` strictly, listing every missing, unexpected and wrong-shaped key."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} (model {list(expected[k].shape)}, file {list(state[k].shape)})"
        for k in set(expected) & set(state)
        if tuple(expected[k].shape) != tuple(state[k].shape)
    )
    # Float parameters need float tensors; integer buffers (BatchNorm's num_batches_tracked)
    # need integers: a checkpoint never swaps one kind for the other.
    not_float = sorted(k for k in set(expected) & set(state)
                       if expected[k].is_floating_point() and not state[k].is_floating_point())
    not_int = sorted(k for k in set(expected) & set(state)
                     if not expected[k].is_floating_point() and state[k].is_floating_point())
    problems = []
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected keys: " + ", ".join(unexpected))
    if wrong:
        problems.append("wrong shapes: " + ", ".join(wrong))
    if not_float:
        problems.append("non-float tensors: " + ", ".join(not_float))
    if not_int:
        problems.append("float tensors for integer buffers: " + ", ".join(not_int))
    if problems:
        raise WeightsError(f"{source} do not match the model: " + "; ".join(problems))
    converted = {}
    for k in sorted(state):
        v = state[k].detach().to(device="cpu")
        if not bool(torch.isfinite(v).all()):
            raise WeightsError(f"{source}: tensor {k} holds NaN or Inf values; every output "
                               "would be NaN, which parity cannot tell from a correct model")
        cast = v.to(dtype=expected[k].dtype)
        # float16/bfloat16 -> float32 is exact; float64 -> float32 is refused when it rounds
        if not torch.equal(cast.to(v.dtype), v):
            raise WeightsError(
                f"{source}: tensor {k} is {str(v.dtype).removeprefix('torch.')} and loses "
                f"precision as {str(expected[k].dtype).removeprefix('torch.')}; convert the "
                "state dict yourself (e.g. {k: v.float()}) if that is what you mean")
        converted[k] = cast
    model.load_state_dict(converted, strict=True)


def state_dict_bytes(model: nn.Module, metadata: Mapping[str, str] | None = None) -> bytes:
    """Deterministic safetensors bytes of the model's weights (same weights -> same bytes)."""
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in sorted(model.state_dict().items())}
    return save(state, metadata=dict(metadata) if metadata else None)


def load_safetensors_bytes(data: bytes) -> dict[str, torch.Tensor]:
    """Tensors of safetensors ``data`` (untrusted: any bad bytes give one WeightsError line)."""
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as e:  # SafetensorError, ValueError, OverflowError, ...: untrusted bytes
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"reference weights are not a valid safetensors file: {first}") \
            from None

