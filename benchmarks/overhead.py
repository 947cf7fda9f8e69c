"""Small inputs: per-call overhead against kernel time, across onnxruntime session options.

    python benchmarks/overhead.py                       # cbam-channel, the three issue-12 shapes
    python benchmarks/overhead.py --model se --stretches 9

For each input shape, times (in alternating stretches, wall clock, medians) the artifact and
an "empty" graph (``Shape(input)``: the same input binding and run dispatch, no kernel work)
under every combination of intra-op threads (1, 2), spinning
(``session.intra_op.allow_spinning`` 1/0) and graph optimisation level (all, extended,
disable), and prints for each: the artifact's median, the empty graph's (the per-call
overhead), the summed kernel time from onnxruntime's profiler, and artifact / (overhead +
kernels) (bound: <= 1.5). The best option set per shape is marked. On a machine
shared with other work, compare rows of one run only.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_nodes import export_block, node_times, session

SHAPES = [(1, 64, 56, 56), (8, 512, 7, 7), (1, 2048, 7, 7)]


def empty_graph(shape: tuple[int, ...]) -> bytes:
    """``output = Shape(input)``: a run with the input bound and no real kernel."""
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Shape", ["input"], ["output"])], "empty",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", *shape[1:]])],
        [helper.make_tensor_value_info("output", TensorProto.INT64, [len(shape)])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    return m.SerializeToString()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cbam-channel")
    ap.add_argument("--stretches", type=int, default=5)
    ap.add_argument("--calls", type=int, default=50)
    a = ap.parse_args()
    options = list(itertools.product((1, 2), (True, False), ("all", "extended", "disable")))
    print(f"{a.model}, nchw, wall clock, {a.stretches} alternating stretches x {a.calls} calls, "
          f"load average {os.getloadavg()[0]:.2f}")
    for shape in SHAPES:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        data = export_block(a.model, "nchw", shape[1], shape[2])
        empty = empty_graph(shape)
        runs = {}
        for threads, spin, opt in options:
            for kind, model in (("artifact", data), ("empty", empty)):
                s = session(model, threads, opt_level=opt, spin=spin)
                runs[(threads, spin, opt, kind)] = (s, s.get_inputs()[0].name)
        samples: dict[tuple[object, ...], list[float]] = {k: [] for k in runs}
        for _ in range(a.stretches):
            for key, (s, name) in runs.items():
                for _ in range(5):
                    s.run(None, {name: x})
                for _ in range(a.calls):
                    t0 = time.perf_counter()
                    s.run(None, {name: x})
                    samples[key].append(time.perf_counter() - t0)
        kernels = {t: sum(node_times(data, x, t, runs=100)[0].values()) for t in (1, 2)}
        print(f"\n{'x'.join(map(str, shape))}  (kernels from the profiler: "
              f"{kernels[1]:.0f} us at 1 thread, {kernels[2]:.0f} us at 2)")
        print(f"  {'threads':>7} {'spin':>5} {'opt':>9} {'artifact us':>12} {'empty us':>9} "
              f"{'art/(empty+kern)':>17}")
        rows = []
        for threads, spin, opt in options:
            art = statistics.median(samples[(threads, spin, opt, "artifact")]) * 1e6
            emp = statistics.median(samples[(threads, spin, opt, "empty")]) * 1e6
            rows.append((art, threads, spin, opt, emp, art / (emp + kernels[threads])))
        best = min(rows)[0]
        for art, threads, spin, opt, emp, ratio in rows:
            mark = "  <- best" if art == best else ""
            print(f"  {threads:>7} {int(spin):>5} {opt:>9} {art:12.1f} {emp:9.1f} "
                  f"{ratio:17.2f}{mark}")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
