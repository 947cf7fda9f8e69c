"""What ``inspect`` says about one file's bytes: an ONNX graph's facts and lint, or the listing
of a TorchScript / ``.pt2`` zip archive. Nothing here loads a program; the graph runs only when
``run_graph`` is given, and then in a limited child process (:mod:`.graph_run`)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any


def onnx_facts(data: bytes, lint: bool,
               run_graph: float | None = None) -> tuple[dict[str, Any] | None, list | None]:
    """(graph facts or ``{"error": ...}``, lint problems or None) of a serialized model."""
    try:
        import onnx
    except ImportError:
        return {"error": "onnx is not installed: pip install onnx"}, None
    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # untrusted bytes: DecodeError and friends
        return {"error": f"not an ONNX model: {str(e).splitlines()[0] if str(e) else e}"}, None

    def tensors(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            tt = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else (_text(d.dim_param) or None)
                    for d in tt.shape.dim]
            out.append({"name": _text(v.name), "dims": dims,
                        "dtype": _dtype(onnx, tt.elem_type)})
        return out

    graph = {
        "inputs": tensors(model.graph.input), "outputs": tensors(model.graph.output),
        "opset": {_text(o.domain) or "ai.onnx": o.version for o in model.opset_import},
        "ir_version": model.ir_version,
        "producer": f"{_text(model.producer_name)} {_text(model.producer_version)}".strip(),
        "nodes": len(model.graph.node),
        "metadata": {_text(p.key): _maybe_json(_text(p.value)) for p in model.metadata_props},
    }
    problems = None
    if lint:
        from ..export.lint import lint_onnx

        runner = None
        if run_graph is not None:
            from .graph_run import run_limited

            def runner(d: bytes, shape: list[int]) -> list[tuple[int, ...]]:
                return run_limited(d, shape, wall_s=run_graph)

        problems = [{k: _text(v) if v is not None else None for k, v in p.to_dict().items()}
                    for p in lint_onnx(data, run=run_graph is not None, runner=runner)]
    return graph, problems


def _text(v: object) -> str:
    """A protobuf string field as text: onnx hands back bytes when they are not valid UTF-8."""
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="backslashreplace")
    return str(v)


def _dtype(onnx: Any, elem_type: int) -> str | None:
    if not elem_type:
        return None
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, ValueError, TypeError):  # an element type this onnx does not know
        return f"onnx type {elem_type}"


def _maybe_json(value: str) -> Any:
    """A JSON-looking metadata value decoded; a huge or deeply nested one stays text."""
    from ..artifacts.parsing import MAX_NESTING, max_depth

    if value[:1] in "[{" and len(value) <= 1 << 16 and max_depth(value) <= MAX_NESTING:
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            pass
    return value


def zip_facts(data: bytes) -> dict[str, Any]:
    """TorchScript and .pt2 files are zip archives; listing one runs nothing (never loaded)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        return {"zip": False, "error": str(e)}
    return {"zip": True, "entries": len(names),
            "code_files": sum(n.split("/")[-2:-1] == ["code"] or "/code/" in n for n in names),
            "loaded": False}


__all__ = ["onnx_facts", "zip_facts"]
