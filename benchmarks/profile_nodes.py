"""Per-node kernel times of an ONNX model in onnxruntime, from its own profiler.

    python benchmarks/profile_nodes.py --model cbam --layout nchw --batch 8 --threads 2
    python benchmarks/profile_nodes.py --model cbam --baseline   # the pre-rewrite graph
    python benchmarks/profile_nodes.py --onnx artifacts/some.onnx --batch 8

Exports the block the way ``chanattn_export onnx`` does (dynamo, default options) unless
``--onnx`` names a file, runs it ``--runs`` times with ``SessionOptions.enable_profiling`` and
prints, per node, the median kernel time over the runs (the profiler's ``*_kernel_time``
events), the node's op type and its share of the summed kernel time. Wall-clock times on a
loaded machine are noisy; the per-node split within one run is what this is for.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np


@contextmanager
def plain_graphs() -> Iterator[None]:
    """Export without the onnxruntime rewrites (models/_pool.py): plain ``amax`` and
    ``Conv2d`` graphs, as the exporter wrote them before the onnxruntime rewrites."""
    import importlib
    import pkgutil
    from contextlib import ExitStack

    import chanattn_export.models as models

    with ExitStack() as stack:  # every family module that imported the switch by name
        for info in pkgutil.iter_modules(models.__path__):
            mod = importlib.import_module(f"{models.__name__}.{info.name}")
            if hasattr(mod, "rewrite_for_onnxruntime"):
                stack.enter_context(mock.patch.object(mod, "rewrite_for_onnxruntime",
                                                      return_value=False))
        yield


def export_block(model: str, layout: str, channels: int, size: int) -> bytes:
    """The ONNX bytes ``chanattn_export onnx`` would write for this block (dynamo exporter)."""
    from chanattn_export.export import export_bytes
    from chanattn_export.registry import build_model, make_spec
    from chanattn_export.spec import ExportSpec, Format, InputSpec, Layout

    spec = make_spec(model, channels, layout=Layout(layout))
    net = build_model(spec, seed=0)
    es = ExportSpec(model=spec, input=InputSpec(height=size, width=size), format=Format.ONNX)
    return export_bytes(net, es).data


def session(model: bytes | str, threads: int, *, profile: bool = False,
            opt_level: str = "all", spin: bool | None = None) -> Any:
    """A CPU InferenceSession with the given thread count (and profiling when asked)."""
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[opt_level]
    if spin is not None:
        o.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if profile:
        o.enable_profiling = True
        o.profile_file_prefix = os.path.join(tempfile.mkdtemp(prefix="ort-prof-"), "p")
    return ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])


def node_times(model: bytes | str, x: np.ndarray, threads: int, runs: int = 200,
               warmup: int = 20) -> tuple[dict[str, float], dict[str, str], float]:
    """``({node: median_us}, {node: op_type}, median summed kernel us per run)``."""
    s = session(model, threads, profile=True)
    name = s.get_inputs()[0].name
    for _ in range(warmup):
        s.run(None, {name: x})
    path = Path(s.end_profiling())  # discard warm-up events: start a fresh profile
    s = session(model, threads, profile=True)
    for _ in range(warmup):
        s.run(None, {name: x})
    for _ in range(runs):
        s.run(None, {name: x})
    path = Path(s.end_profiling())
    events = json.loads(path.read_text())
    per_node: dict[str, list[float]] = defaultdict(list)
    ops: dict[str, str] = {}
    per_run: list[float] = []
    current = 0.0
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            per_run.append(current)
            current = 0.0
        if ev.get("cat") != "Node" or not ev["name"].endswith("_kernel_time"):
            continue
        node = ev["name"][: -len("_kernel_time")]
        per_node[node].append(float(ev["dur"]))
        ops[node] = ev.get("args", {}).get("op_name", "?")
        current += float(ev["dur"])
    keep = runs  # the last ``runs`` runs: the warm-up ones are first
    med = {n: statistics.median(v[-keep:]) for n, v in per_node.items()}
    total = statistics.median(per_run[-keep:]) if per_run else sum(med.values())
    return med, ops, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cbam-channel")
    ap.add_argument("--layout", default="nchw", choices=["nchw", "nhwc"])
    ap.add_argument("--onnx", help="profile this file instead of exporting --model")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--baseline", action="store_true",
                    help="profile the graph exported without the onnxruntime rewrites")
    a = ap.parse_args()
    if a.onnx:
        data: bytes | str = a.onnx
    elif a.baseline:
        with plain_graphs():
            data = export_block(a.model, a.layout, a.channels, a.size)
    else:
        data = export_block(a.model, a.layout, a.channels, a.size)
    shape = ((a.batch, a.channels, a.size, a.size) if a.layout == "nchw"
             else (a.batch, a.size, a.size, a.channels))
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    med, ops, _ = node_times(data, x, a.threads, a.runs)
    print(f"load {os.getloadavg()[0]:.2f}  {a.onnx or a.model}{' (baseline)' * a.baseline} "
          f"{a.layout} {shape} "
          f"threads={a.threads} runs={a.runs}")
    print(f"{'node':48} {'op':22} {'us':>9} {'share':>6}")
    summed = sum(med.values()) or 1.0
    for n, us in sorted(med.items(), key=lambda kv: -kv[1]):
        print(f"{n[:48]:48} {ops[n][:22]:22} {us:9.1f} {us / summed:6.1%}")
    print(f"{'sum of node medians':71} {summed:9.1f}")


if __name__ == "__main__":
    main()
