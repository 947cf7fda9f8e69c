"""Name -> attention class for every exportable block, and building one from a spec.

A model registered here gets export, parity and benchmark coverage automatically: the tests
and the ``all`` command iterate over :func:`list_models`. Every registered class takes
``(channels, *, ratio=..., layout=...)`` (``ratio`` only when it has a reduction MLP).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidSpecError, UnknownModelError
from .spec import DEFAULT_CHANNELS, DEFAULT_RATIO, InputSpec, Layout, ModelSpec

if TYPE_CHECKING:
    from torch import nn

GATE, APPLIED = "gate", "applied"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    cls: type[nn.Module]
    summary: str
    uses_ratio: bool = True
    output: str = APPLIED  # GATE: returns the broadcastable gate; APPLIED: x * gate
    default_ratio: int = DEFAULT_RATIO  # the paper's reduction (coordinate attention: 32)
    fixed_hw: bool = False  # weights depend on H x W (FcaNet's DCT filters): no --dynamic-hw

    def instantiate(self, spec: ModelSpec) -> nn.Module:
        kwargs: dict[str, Any] = {"layout": spec.layout}
        if self.uses_ratio:
            kwargs["ratio"] = spec.ratio
        return self.cls(spec.channels, **kwargs)


_REGISTRY: dict[str, ModelInfo] = {}


def register(name: str, cls: type[nn.Module], summary: str, *, uses_ratio: bool = True,
             output: str = APPLIED, default_ratio: int = DEFAULT_RATIO,
             fixed_hw: bool = False) -> ModelInfo:
    """Add ``cls`` under ``name``; it must take ``(channels, *, [ratio,] layout)``.

    ``fixed_hw``: the block's weights are tied to the input's H x W, so an export is only valid
    at the traced size and ``dynamic_hw`` is refused (:func:`check_input`).
    """
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} registered twice")
    if output not in (GATE, APPLIED):
        raise ValueError(f"model {name!r}: output must be {GATE!r} or {APPLIED!r}")
    info = _REGISTRY[name] = ModelInfo(name, cls, summary, uses_ratio, output, default_ratio,
                                       fixed_hw)
    return info


def list_models() -> list[ModelInfo]:
    """Registered models in registration order."""
    _load_builtin()
    return list(_REGISTRY.values())


def get_model_info(name: str) -> ModelInfo:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        names = list(_REGISTRY)
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(names)}"
        raise UnknownModelError(f"unknown model {name!r}{hint} (see: list)") from None


def make_spec(name: str, channels: int = DEFAULT_CHANNELS, ratio: int | None = None,
              layout: Layout | str = Layout.NCHW) -> ModelSpec:
    """Validated spec with the model's default ratio filled in (None for ratio-free models)."""
    info = get_model_info(name)
    if info.uses_ratio:
        if ratio is None:  # the default shrinks for narrow blocks; an explicit ratio never does
            r = info.default_ratio
            ratio = min(r, channels) if isinstance(channels, int) and channels > 0 else r
    elif ratio is not None:
        raise InvalidSpecError(f"model {name!r} has no reduction MLP; ratio must not be given")
    return ModelSpec(name=name, channels=channels, ratio=ratio, layout=layout)


def check_input(model: ModelSpec, inp: InputSpec) -> None:
    """Refuse an input spec the model cannot honour (dynamic H x W for ``fixed_hw`` blocks)."""
    if inp.dynamic_hw and get_model_info(model.name).fixed_hw:
        raise InvalidSpecError(
            f"model {model.name!r} has weights tied to the input's H x W; export it at a fixed "
            f"size (drop --dynamic-hw / dynamic_hw=True)")


def build(spec: ModelSpec) -> nn.Module:
    """Instantiate ``spec`` in eval mode (weights from torch's default init)."""
    info = get_model_info(spec.name)
    if info.uses_ratio != (spec.ratio is not None):
        raise InvalidSpecError(
            f"model {spec.name!r} {'needs' if info.uses_ratio else 'takes no'} ratio"
        )
    return info.instantiate(spec).eval()


def build_model(spec: ModelSpec, weights: str | os.PathLike[str] | bytes | None = None,
                seed: int = 0) -> nn.Module:
    """Eager model in eval mode: weights from a file or safetensors bytes, else torch's init
    seeded by ``seed`` (the same seed gives the same weights and so the same exported bytes)."""
    from .weights import apply_state_dict, load_safetensors_bytes, read_state_dict, seeded

    net = seeded(lambda: build(spec), seed)
    if weights is not None:
        if isinstance(weights, bytes):
            state, source = load_safetensors_bytes(weights), "reference weights"
        else:
            state, source = read_state_dict(weights), f"weights in {weights}"
        apply_state_dict(net, state, source)
    return net.eval()


def create_model(name: str, channels: int = DEFAULT_CHANNELS, ratio: int | None = None,
                 layout: Layout | str = Layout.NCHW) -> nn.Module:
    """Build a registered block by name, in eval mode, with torch's default random init."""
    return build(make_spec(name, channels, ratio, layout))


_loaded = False


def _load_builtin() -> None:
    """Register the built-in families on first use, so importing the registry stays torch-free."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import _builtin_models  # noqa: F401  (registers on import)
