"""The lint's one rule that executes the graph: run it at a batch and H x W never used at export.

A graph can parse, declare its dims dynamic and still fail (or return the wrong shape) at a size
the export never tried. Only running it tells. Who runs it is the caller's choice: an export runs
its own fresh file in this process (:func:`run_in_process`); ``inspect`` hands a runner that
executes a file nobody vouches for in a limited child process (``check/graph_run.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import MissingDependencyError

MAX_RUN_ELEMENTS = 1 << 24  # the unseen-shape run allocates at most 64 MB of float32 input

# (serialized model, input shape) -> the shape of every output; raises when the run fails.
GraphRunner = Callable[[bytes, list[int]], list[tuple[int, ...]]]


def graph_dims(value_info: Any) -> list[int | str | None]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


def unseen_shape(graph_dims: Sequence[int | str | None],
                 export_shape: Sequence[int] | None) -> list[int]:
    """A concrete shape whose dynamic dims differ from every size used at export."""
    used = set(export_shape or ()) | {1, 2}  # 2: the trace batch when the batch is dynamic
    pool = iter(v for v in range(3, 1 << 16, 2) if v not in used)
    shape = []
    for i, d in enumerate(graph_dims):
        if isinstance(d, int) and d > 0:
            shape.append(d)
        elif i == 0:
            shape.append(next(pool))
        else:  # a spatial dim: near the export size, different per axis
            base = export_shape[i] if export_shape and i < len(export_shape) else 8
            shape.append(next(v for v in pool if v > base))
    return shape


def run_in_process(data: bytes, shape: list[int]) -> list[tuple[int, ...]]:
    """Run ``data`` once on CPU in this process (for files this toolkit just wrote)."""
    import onnxruntime as ort

    opts, quiet = ort.SessionOptions(), ort.RunOptions()
    opts.log_severity_level = quiet.log_severity_level = 4  # the failure is reported here
    sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    arg = sess.get_inputs()[0]
    half = arg.type == "tensor(float16)"  # an fp16 file with float16 I/O
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float16 if half else np.float32)
    return [tuple(y.shape) for y in sess.run(None, {arg.name: x}, quiet)]


def unseen_shape_problems(data: bytes, model: Any, export_shape: Sequence[int] | None,
                          runner: GraphRunner | None = None) -> list[str]:
    """What goes wrong at an unseen shape (messages of ``unseen-shape`` problems): the run
    fails, or a dynamic output dim does not follow the input's."""
    if runner is None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return []
        runner = run_in_process
    if len(model.graph.input) != 1:
        return []
    in_dims = graph_dims(model.graph.input[0])
    if all(isinstance(d, int) for d in in_dims):
        return []  # nothing dynamic to check
    shape = unseen_shape(in_dims, export_shape)
    if int(np.prod(shape)) > MAX_RUN_ELEMENTS:
        return []
    try:
        got = runner(data, shape)
    except MissingDependencyError:  # no onnxruntime where the graph would run: rule skipped
        return []
    except Exception as e:
        return [f"fails at input shape {shape} (dynamic dims at sizes not used at export): "
                f"{str(e).splitlines()[0][:300] if str(e) else type(e).__name__}"]
    by_name = {d: v for d, v in zip(in_dims, shape, strict=True) if isinstance(d, str)}
    out = []
    for info, y in zip(model.graph.output, got, strict=False):
        want = [by_name.get(d, d) if isinstance(d, str) else d for d in graph_dims(info)]
        if len(want) != len(y) or any(isinstance(w, int) and w != g
                                      for w, g in zip(want, y, strict=False)):
            out.append(f"at input shape {shape} output {info.name} has shape {list(y)}, the "
                       f"graph declares {want}")
    return out


__all__ = ["MAX_RUN_ELEMENTS", "GraphRunner", "graph_dims", "run_in_process", "unseen_shape",
           "unseen_shape_problems"]
