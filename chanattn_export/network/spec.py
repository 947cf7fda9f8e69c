"""A user's own network (any ``nn.Module`` taking one rank-4 float32 tensor) as a subject of
the one export road: the same exporters, parity cases, evidence, manifest, verify and report as
a registered block.

A block can later be rebuilt from the registry and its weights; a user's network cannot (its
code is not in this package), so its entry is ``"source": "user"`` and its re-checks judge it
against its stored evidence alone. The state dict is stored too (safetensors), for the user.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..artifacts.evidence import USER
from ..check.cases import check_input_size
from ..errors import ExportError, InvalidSpecError, first_line
from ..export.foreign import cannot_exit
from ..export.subject import Subject
from ..spec import (
    DEFAULT_OPSET,
    Exporter,
    ExportSpec,
    Format,
    InputSpec,
    Layout,
    ModelSpec,
    check_int,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def network_spec(net: object, fmt: Format | str, input_shape: object,
                 layout: Layout | str = Layout.NCHW, name: str | None = None,
                 dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                 exporter: Exporter | str = Exporter.AUTO) -> ExportSpec:
    """The spec of a network's artifact: the input's shape and layout, ``model`` = ``name``."""
    if not isinstance(net, nn.Module):
        raise InvalidSpecError(f"model must be a registered model name or a torch.nn.Module; "
                               f"got {type(net).__name__}")
    lay = Layout.parse(layout, "layout")
    shape = _shape(input_shape, lay)
    h, w = (shape[a] for a in lay.spatial_axes)
    model = ModelSpec(_name(net, name), shape[lay.channel_axis], None, lay)
    inp = InputSpec(shape[0], h, w, dynamic_hw=bool(dynamic_hw))
    check_input_size(model, inp)  # before the first forward allocates it
    return ExportSpec(model, inp, fmt, opset, exporter)


def _shape(input_shape: object, layout: Layout) -> tuple[int, ...]:
    axes = "(" + ", ".join(layout.axis_names) + ")"
    try:
        dims = tuple(input_shape)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidSpecError(f"input_shape must be 4 ints {axes}; got {input_shape!r}") from None
    if len(dims) != 4:
        raise InvalidSpecError(f"input_shape must have 4 dims {axes} for layout {layout} (one "
                               f"image batch); got {len(dims)}: {dims!r}")
    limits = (4096, 1 << 16, 8192, 8192) if layout is Layout.NCHW else (4096, 8192, 8192, 1 << 16)
    return tuple(check_int(d, f"input_shape[{i}] ({layout.axis_names[i]})", 1, top)
                 for i, (d, top) in enumerate(zip(dims, limits, strict=True)))


def _name(net: nn.Module, name: str | None) -> str:
    if name is None:
        name = re.sub(r"[^a-z0-9_.-]+", "-", type(net).__name__.lower()).strip("-._") or "network"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidSpecError(f"name must be 1-64 letters, digits, '.', '_' or '-' starting "
                               f"with a letter or digit (it names the files); got {name!r}")
    from ..registry import list_models

    if name in {m.name for m in list_models()}:
        raise InvalidSpecError(f"name {name!r} is a registered model; give the network another "
                               "name= (its files would take that model's names)")
    return name


def _prepared(net: nn.Module) -> nn.Module:
    """A float32 CPU copy in eval mode: the user's module is never changed."""
    try:
        ours = copy.deepcopy(net)
    except Exception as e:  # a module holding something uncopyable (a lock, a file)
        raise InvalidSpecError(f"cannot copy the network: {first_line(e)}") from None
    kinds = sorted({str(t.dtype).removeprefix("torch.")
                    for t in itertools.chain(ours.parameters(), ours.buffers())
                    if t.is_floating_point() and t.dtype != torch.float32})
    if kinds:
        raise InvalidSpecError(f"the network holds {', '.join(kinds)} tensors; artifacts are "
                               "float32: export net.float()")
    return ours.cpu().eval()


def _check_forward(net: nn.Module, spec: ExportSpec) -> None:
    """One forward pass at ``input_shape`` before any export work, for a clear error."""
    m, inp = spec.model, spec.input
    shape = inp.shape(m.layout, m.channels)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            y = net(x)
    except (Exception, SystemExit) as e:  # the user's code: any exception, sys.exit() too
        why = f"it called sys.exit({e.code!r})" if isinstance(e, SystemExit) else first_line(e)
        raise InvalidSpecError(f"the network's forward fails on input_shape {list(shape)} "
                               f"({str(m.layout).upper()}): {why}") from None
    if not isinstance(y, torch.Tensor):
        raise InvalidSpecError(f"the network returns a {type(y).__name__}; only a network "
                               "returning one tensor can be exported")
    if y.dtype != torch.float32:
        raise InvalidSpecError(f"the network returns {str(y.dtype).removeprefix('torch.')}; "
                               "only float32 outputs can be exported")


def _state_bytes(net: nn.Module, name: str) -> bytes:
    """The state dict as safetensors; tensors are copied, so tied weights do not refuse."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in sorted(net.state_dict().items())}
    return save(state, metadata={"model": name})  # one key: several are written unordered


def _export(net: nn.Module, spec: ExportSpec) -> Any:
    """The exporters of the registered blocks; a failure on a network that still holds
    attention blocks we can replace says so."""
    from ..export import export_bytes
    from .swap import attention_paths

    try:
        return export_bytes(net, spec, registered=False)
    except ExportError as e:
        paths = attention_paths(net)
        if not paths:
            raise
        raise ExportError(f"{e}; the network holds attention blocks that swap_attention "
                          f"replaces with export-friendly ones ({', '.join(paths[:4])}): "
                          "net, report = swap_attention(net, example), then export net") from None


@cannot_exit
def network_subject(net: object, fmt: Format | str, *, input_shape: Sequence[int],
                    layout: Layout | str = Layout.NCHW, name: str | None = None,
                    dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                    exporter: Exporter | str = Exporter.AUTO) -> Subject:
    """``net`` (a copy, eval mode, CPU) at ``input_shape`` (batch dynamic, channels on
    ``layout``'s axis), checked with one forward pass before any export work."""
    spec = network_spec(net, fmt, input_shape, layout, name, dynamic_hw, opset, exporter)
    ours = _prepared(net)  # type: ignore[arg-type]
    _check_forward(ours, spec)
    return Subject(ours, spec, _state_bytes(ours, spec.model.name),
                   lambda: _export(ours, spec), USER, None)


__all__ = ["network_spec", "network_subject"]
