"""ONNX export through torch.export (dynamo) or the legacy TorchScript-based exporter.

Returns the serialized model with metadata_props set; writing it is artifacts.py's job, so a
failed export or parity check never leaves a file behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ExportError, MissingDependencyError, first_line
from ..quiet import quiet
from ..signals import interrupt_in, raise_if_received
from ..spec import INPUT_NAME, OUTPUT_NAME, Exporter, ExportSpec


@dataclass(frozen=True)
class OnnxExport:
    data: bytes
    exporter: Exporter  # the one actually used (AUTO resolved)
    fallback_reason: str | None = None


def example_input(spec: ExportSpec) -> torch.Tensor:
    """The seeded trace input, at the trace batch (>= 2 when the batch is dynamic)."""
    shape = spec.input.shape(spec.model.layout, spec.model.channels, batch=spec.input.trace_batch)
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def metadata(spec: ExportSpec, exporter: Exporter, version: str) -> dict[str, str]:
    """What a deployment needs to know about the file, as ONNX metadata_props."""
    m = spec.model
    return {
        "chanattn_export.version": version,
        "chanattn_export.model": m.name,
        "chanattn_export.channels": str(m.channels),
        "chanattn_export.ratio": "" if m.ratio is None else str(m.ratio),
        "chanattn_export.layout": str(m.layout),
        "chanattn_export.hidden": "" if m.hidden is None else str(m.hidden),
        "chanattn_export.preset": m.preset,
        "chanattn_export.input_name": INPUT_NAME,
        "chanattn_export.input_dims": json.dumps(spec.input.dims(m.layout, m.channels)),
        "chanattn_export.input_shape": json.dumps(list(spec.input.shape(m.layout, m.channels))),
        "chanattn_export.dynamic_dims": json.dumps(
            sorted(set(spec.input.dynamic_axes(m.layout).values()))),
        "chanattn_export.opset": str(spec.opset),
        "chanattn_export.exporter": str(exporter),
    }


def dynamo_program(model: nn.Module, example: torch.Tensor, dynamic_axes: dict[int, str],
                   opset: int, optimize: bool = True) -> Any:
    """torch.onnx's ``ONNXProgram`` for ``model``: the one dynamo export call, shared with
    localisation, which needs its ``exported_program`` (ONNX value names are its node names)."""
    from torch.export import Dim

    dims = {axis: Dim(name, min=1) for axis, name in dynamic_axes.items()}
    return torch.onnx.export(
        model, (example,), dynamo=True, verbose=False, external_data=False,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
        dynamic_shapes=({**dims},) if dims else None, optimize=optimize,
    )


def _dynamo(model: nn.Module, spec: ExportSpec) -> Any:
    return dynamo_program(model, example_input(spec), spec.input.dynamic_axes(spec.model.layout),
                          spec.opset).model_proto


def _legacy(model: nn.Module, spec: ExportSpec) -> Any:
    import io

    import onnx

    buf = io.BytesIO()
    axes = spec.input.dynamic_axes(spec.model.layout)
    torch.onnx.export(
        model, (example_input(spec),), buf, dynamo=False, input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME], opset_version=spec.opset,
        dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes} if axes else None,
        do_constant_folding=True,
    )
    return onnx.load_from_string(buf.getvalue())


STACK_TRACE_KEY = "pkg.torch.onnx.stack_trace"


def _strip_stack_traces(graph: Any) -> None:
    """Drop torch's per-node stack traces: they embed this machine's source paths, which
    leak into shipped files and make the bytes depend on where the package is installed."""
    for node in graph.node:
        kept = [(p.key, p.value) for p in node.metadata_props if p.key != STACK_TRACE_KEY]
        if len(kept) != len(node.metadata_props):
            del node.metadata_props[:]
            for key, value in kept:
                node.metadata_props.add(key=key, value=value)
        for attr in node.attribute:
            if attr.HasField("g"):
                _strip_stack_traces(attr.g)
            for sub in attr.graphs:
                _strip_stack_traces(sub)


def _opset(proto: Any, default: int) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default)


def export_onnx_bytes(model: nn.Module, spec: ExportSpec, version: str) -> OnnxExport:
    """Export ``model`` (eval mode, CPU) as described by ``spec``; return checked bytes."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as e:
        raise MissingDependencyError(
            f"ONNX export needs onnx and onnxscript ({first_line(e)}); "
            "pip install onnx onnxscript"
        ) from None
    if spec.opset > onnx.defs.onnx_opset_version():
        raise ExportError(
            f"opset {spec.opset} is newer than the installed onnx {onnx.__version__} can write "
            f"(max {onnx.defs.onnx_opset_version()})"
        )
    order = {Exporter.AUTO: [Exporter.DYNAMO, Exporter.LEGACY],
             Exporter.DYNAMO: [Exporter.DYNAMO], Exporter.LEGACY: [Exporter.LEGACY]}
    errors: list[str] = []
    proto = used = None
    with torch.no_grad():
        for exporter in order[spec.exporter]:
            try:
                with quiet():
                    fn = _dynamo if exporter is Exporter.DYNAMO else _legacy
                    candidate = fn(model, spec)
            except Exception as e:  # exporters raise many types; report, then fall back
                interrupt = interrupt_in(e)  # Ctrl-C/SIGTERM wrapped by torch: not a failure
                if interrupt is not None:
                    raise interrupt from None
                raise_if_received()
                errors.append(f"{exporter} exporter failed: {first_line(e)}")
                continue
            raise_if_received()  # an interrupt torch caught and swallowed whole
            wrote = _opset(candidate, spec.opset)
            if wrote != spec.opset:  # torch.export writes >= 18 whatever is asked
                errors.append(f"{exporter} exporter wrote opset {wrote}, not {spec.opset}")
                continue
            proto, used = candidate, exporter
            break
    if proto is None or used is None:
        raise ExportError("; ".join(errors))
    _strip_stack_traces(proto.graph)
    del proto.metadata_props[:]
    for key, value in metadata(spec, used, version).items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"{spec.model.name} channel attention exported by chanattn_export"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:
        raise ExportError(f"exported ONNX model fails onnx.checker: {first_line(e)}") from e
    return OnnxExport(
        data=proto.SerializeToString(deterministic=True), exporter=used,
        fallback_reason="; ".join(errors) if errors else None,
    )
