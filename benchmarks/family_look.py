"""Per-node look (top onnxruntime nodes, artifact vs eager) for any registered family, one run.

    python benchmarks/family_look.py --models ese,ceca,gc --layouts nchw,nhwc --baseline
    python benchmarks/family_look.py            # the zoo families, both layouts

For each family and layout: the artifact ``chanattn_export onnx`` writes (dynamo exporter), its
top nodes from onnxruntime's profiler (median kernel time over ``--runs`` runs), and whole calls
of the artifact in onnxruntime and of the eager module in torch, timed in alternating stretches
(1 thread, this thread's CPU time per call by default: robust to other processes holding the
cores). ``--baseline`` adds the graph exported without the onnxruntime rewrites
(``models/_pool.py``), so before/after is one run as well. The load average is printed with the
numbers: on a shared machine only the ratios and the per-node split mean something.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout_ratio import eager_call, measure, ort_call
from profile_nodes import export_block, node_times, plain_graphs

ZOO = ("ese", "ceca", "gc", "ge", "srm", "gct", "fca", "simam", "coord")


def top(data: bytes, x: np.ndarray, runs: int, k: int) -> tuple[str, float]:
    """``"Op us, Op us, Op us"`` of the ``k`` slowest nodes, and the sum of node medians."""
    med, ops, _ = node_times(data, x, 1, runs)
    best = sorted(med.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{ops[n]} {us:.0f}" for n, us in best), sum(med.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--layouts", default="nchw,nhwc")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--runs", type=int, default=100, help="profiled runs per artifact")
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("--stretches", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="cpu")
    ap.add_argument("--baseline", action="store_true",
                    help="also the graph exported without the onnxruntime rewrites")
    a = ap.parse_args()
    clock = time.thread_time if a.clock == "cpu" else time.perf_counter
    rng = np.random.default_rng(0)
    n, c, s = a.batch, a.channels, a.size
    for layout in a.layouts.split(","):
        shape = (n, c, s, s) if layout == "nchw" else (n, s, s, c)
        x = rng.standard_normal(shape, dtype=np.float32)
        for model in a.models.split(","):
            graphs = {"onnx": export_block(model, layout, c, s)}
            if a.baseline:
                with plain_graphs():
                    graphs["onnx-before"] = export_block(model, layout, c, s)
            load0 = os.getloadavg()[0]
            tops = {k: top(g, x, a.runs, a.top) for k, g in graphs.items()}
            cases: dict[str, Callable[[], object]] = {
                k: ort_call(g, x, 1) for k, g in graphs.items()}
            cases["eager"] = eager_call(model, layout, x, 1)
            med = {k: statistics.median(v) * 1e3
                   for k, v in measure(cases, a.stretches, a.calls, 0.05, clock).items()}
            load1 = os.getloadavg()[0]
            print(f"== {model} {layout} {'x'.join(map(str, shape))}, 1 thread, {a.clock} clock, "
                  f"load {load0:.2f} -> {load1:.2f}")
            for k, (nodes, summed) in tops.items():
                print(f"  {k:12} top {a.top}: {nodes} (sum of node medians {summed:.0f} us)")
            for k, v in med.items():
                print(f"  {k:12} median {v:7.3f} ms")
            for k in graphs:
                print(f"  {k:12} / eager {med[k] / med['eager']:5.2f}")
            if a.baseline:
                print(f"  after / before {med['onnx'] / med['onnx-before']:5.2f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
