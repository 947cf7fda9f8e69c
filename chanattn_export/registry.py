"""Name -> attention class for every exportable block, and building one from a spec.

A model registered here gets export, parity and benchmark coverage automatically: the tests
and the ``all`` command iterate over :func:`list_models`. Every registered class takes
``(channels, *, ratio=..., layout=...)`` (``ratio`` only when it has a reduction MLP).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import InvalidSpecError, UnknownModelError
from .spec import DEFAULT_CHANNELS, DEFAULT_RATIO, InputSpec, Layout, ModelSpec

if TYPE_CHECKING:
    from torch import nn

GATE, APPLIED = "gate", "applied"


@dataclass(frozen=True)
class Preset:
    """Another library's defaults for a family: ``kwargs(channels, ratio)`` -> constructor
    keyword arguments, and the ratio it uses when none is given."""

    kwargs: Callable[[int, int | None], dict[str, Any]]
    ratio: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    cls: type[nn.Module]
    summary: str
    uses_ratio: bool = True
    output: str = APPLIED  # GATE: returns the broadcastable gate; APPLIED: x * gate
    default_ratio: int = DEFAULT_RATIO  # the paper's reduction (coordinate attention: 32)
    fixed_hw: bool = False  # weights depend on H x W (FcaNet's DCT filters): no --dynamic-hw
    presets: Mapping[str, Preset] = field(default_factory=dict)  # e.g. "timm"
    hidden_keys: tuple[str, ...] = ()  # state-dict keys whose dim 0 is the hidden width

    def check(self, spec: ModelSpec) -> None:
        """Refuse a preset or hidden width this family does not have."""
        if spec.preset != "default" and spec.preset not in self.presets:
            have = sorted(n for n, i in _REGISTRY.items() if spec.preset in i.presets)
            raise InvalidSpecError(
                f"model {self.name!r} has no {spec.preset} preset (models with one: "
                f"{', '.join(have) or 'none'})")
        if spec.hidden is not None and not self.hidden_keys:
            raise InvalidSpecError(f"model {self.name!r} has no hidden layer; hidden must "
                                   f"not be given")

    def instantiate(self, spec: ModelSpec) -> nn.Module:
        self.check(spec)
        kwargs: dict[str, Any] = {"layout": spec.layout}
        if self.uses_ratio:
            kwargs["ratio"] = spec.ratio
        if spec.preset != "default":
            kwargs.update(self.presets[spec.preset].kwargs(spec.channels, spec.ratio))
        if spec.hidden is not None:
            kwargs["hidden"] = spec.hidden
        return self.cls(spec.channels, **kwargs)


_REGISTRY: dict[str, ModelInfo] = {}


def register(name: str, cls: type[nn.Module], summary: str, *, uses_ratio: bool = True,
             output: str = APPLIED, default_ratio: int = DEFAULT_RATIO,
             fixed_hw: bool = False, presets: Mapping[str, Preset] | None = None,
             hidden_keys: tuple[str, ...] = ()) -> ModelInfo:
    """Add ``cls`` under ``name``; it must take ``(channels, *, [ratio,] layout)``.

    ``fixed_hw``: the block's weights are tied to the input's H x W, so an export is only valid
    at the traced size and ``dynamic_hw`` is refused (:func:`check_input`). ``presets``: other
    libraries' defaults (``preset="timm"``). ``hidden_keys``: where the hidden width shows in a
    state dict, so ``hidden=`` is accepted and read from a weights file.
    """
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} registered twice")
    if output not in (GATE, APPLIED):
        raise ValueError(f"model {name!r}: output must be {GATE!r} or {APPLIED!r}")
    info = _REGISTRY[name] = ModelInfo(name, cls, summary, uses_ratio, output, default_ratio,
                                       fixed_hw, dict(presets or {}), tuple(hidden_keys))
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
              layout: Layout | str = Layout.NCHW, *, hidden: int | None = None,
              preset: str = "default") -> ModelSpec:
    """Validated spec with the model's (or preset's) default ratio filled in (None for
    ratio-free models)."""
    info = get_model_info(name)
    preset = str(preset).lower()
    if info.uses_ratio:
        if ratio is None:  # the default shrinks for narrow blocks; an explicit ratio never does
            p = info.presets.get(preset)
            r = p.ratio if p is not None and p.ratio is not None else info.default_ratio
            ratio = min(r, channels) if isinstance(channels, int) and channels > 0 else r
    elif ratio is not None:
        raise InvalidSpecError(f"model {name!r} has no reduction MLP; ratio must not be given")
    spec = ModelSpec(name=name, channels=channels, ratio=ratio, layout=layout, hidden=hidden,
                     preset=preset)
    info.check(spec)
    return spec


def hidden_from_weights(spec: ModelSpec, state: Mapping[str, Any]) -> ModelSpec:
    """``spec`` with the hidden width a checkpoint's shapes imply, when it differs from what
    ``spec`` would build: the file decides. Other mismatches are left for the weight loader's
    one-line error."""
    info = get_model_info(spec.name)
    if spec.hidden is not None:
        return spec
    for key in info.hidden_keys:
        t = state.get(key)
        if t is not None and len(t.shape) >= 1:
            built = build(spec).state_dict().get(key)
            if built is None or int(built.shape[0]) == int(t.shape[0]):
                return spec
            return replace(spec, hidden=int(t.shape[0]))
    return spec


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
    from .models.weights import apply_state_dict, load_safetensors_bytes, read_state_dict, seeded

    net = seeded(lambda: build(spec), seed)
    if weights is not None:
        if isinstance(weights, bytes):
            state, source = load_safetensors_bytes(weights), "reference weights"
        else:
            state, source = read_state_dict(weights), f"weights in {weights}"
        apply_state_dict(net, state, source)
    return net.eval()


def create_model(name: str, channels: int = DEFAULT_CHANNELS, ratio: int | None = None,
                 layout: Layout | str = Layout.NCHW, *, hidden: int | None = None,
                 preset: str = "default") -> nn.Module:
    """Build a registered block by name, in eval mode, with torch's default random init.

    ``preset="timm"`` gives timm's module (shapes, names, function); ``hidden`` sets the
    bottleneck width directly (timm's ``rd_channels``)."""
    return build(make_spec(name, channels, ratio, layout, hidden=hidden, preset=preset))


_loaded = False


ENTRY_POINT_GROUP = "chanattn_export.models"


def _load_builtin() -> None:
    """Register the built-in families, then third-party ones, on first use (importing the
    registry stays torch-free)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from .models.catalog import BUILTIN

    for args, kwargs in BUILTIN:
        kw = dict(kwargs)
        presets = {k: Preset(*v) for k, v in kw.pop("presets", {}).items()}
        register(*args, presets=presets, **kw)

    _load_entry_points()


def _load_entry_points() -> None:
    """Third-party blocks: each entry point in the ``chanattn_export.models`` group names a
    module that calls :func:`register` on import, or a function that does when called."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as e:  # a broken plugin names itself instead of a bare traceback
            raise InvalidSpecError(f"plugin {ep.name!r} ({ep.value}) in entry-point group "
                                   f"{ENTRY_POINT_GROUP!r} failed to load: {e}") from e
