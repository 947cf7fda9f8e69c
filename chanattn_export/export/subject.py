"""What the one export road takes: an eager module, its spec, its weights, how to export it.

A registered block is just a module the registry builds (:func:`block_subject`); a user's
network is the module the user hands over (``network.spec.network_subject``). From a
:class:`Subject` on, both take the same steps (``pipeline.export_subject``): eager outputs on
the parity inputs, export, lint, judge, evidence file, manifest record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..artifacts.evidence import REGISTRY
from ..spec import ExportSpec
from . import Exported, export_bytes

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Subject:
    """``net`` in eval mode on the CPU, float32; ``weights``: its state dict as safetensors;
    ``source``: ``registry`` (rebuildable from ``weights``) or ``user``; ``output_kind``:
    ``gate``/``applied`` for a block, None to record the output dims seen on the parity cases."""

    net: nn.Module
    spec: ExportSpec
    weights: bytes
    export: Callable[[], Exported]
    source: str = REGISTRY
    output_kind: str | None = None


def block_subject(spec: ExportSpec, weights: str | os.PathLike[str] | None = None,
                  seed: int = 0) -> Subject:
    """A registered block: built from a weights file or ``seed``, then rebuilt from the stored
    weights bytes, so the eager reference is exactly what ``parity DIR`` will rebuild."""
    from ..models.weights import state_dict_bytes
    from ..registry import build_model, get_model_info

    net = build_model(spec.model, weights, seed)  # bad weights: fail before anything else
    data = state_dict_bytes(net, {"model": spec.model.name})
    net = build_model(spec.model, data)
    return Subject(net, spec, data, lambda: export_bytes(net, spec), REGISTRY,
                   get_model_info(spec.model.name).output)


__all__ = ["Subject", "block_subject"]
