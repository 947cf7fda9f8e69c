"""The floor under the speed goals: each kernel the artifacts need, alone, in onnxruntime.

    python benchmarks/kernel_floor.py --threads 1,2 --rounds 3

Builds one small ONNX graph per kernel (onnx.helper, standard ops, 8x64x56x56 float32 unless
told) and takes, per graph, the median over runs of the summed kernel time of one run from
onnxruntime's own profiler; the graphs are profiled in turn, ``--rounds`` times, and the median
of the rounds is printed with the range. Summing the kernels a block needs gives the floor of
its per-node time: ``cbam-channel`` NCHW is a spatial mean, a spatial max and the channel gate
Mul; NHWC the same in channels-last; ``cbam`` adds the channel mean and max of the gated
tensor, the spatial conv path and the spatial gate Mul (benchmarks/NOTES.md section 8).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from onnx import helper as oh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout_ratio import machine
from profile_nodes import session

Graph = tuple[bytes, dict[str, np.ndarray]]


def _graph(nodes: list, feeds: dict[str, np.ndarray], out: list[int],
           consts: dict[str, np.ndarray] | None = None) -> Graph:
    inputs = [oh.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in feeds.items()]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (consts or {}).items()]
    g = oh.make_graph(nodes, "k", inputs,
                      [oh.make_tensor_value_info("out", TensorProto.FLOAT, out)], inits)
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    return m.SerializeToString(), feeds


def _i64(*v: int) -> np.ndarray:
    return np.array(v, np.int64)


def _pooled(x: str, window: list[int], rest: list[int]) -> list:
    """MaxPool (``ceil_mode``) over ``window`` on the ``[N, 1, ...]`` view, then ReduceMax."""
    return [oh.make_node("Unsqueeze", [x, "one"], ["x5"]),
            oh.make_node("MaxPool", ["x5"], ["m"], kernel_shape=window, strides=window,
                         ceil_mode=1),
            oh.make_node("ReduceMax", ["m", "rest"], ["out"], keepdims=0)]


def kernels(n: int, c: int, h: int, w: int) -> dict[str, Graph]:
    """The kernels, by label: the forms the artifacts use and the alternatives tried."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    g, gh = rng.random((n, c, 1, 1), dtype=np.float32), rng.random((n, 1, 1, c), dtype=np.float32)
    s = rng.random((n, 1, h, w), dtype=np.float32)
    maps = rng.standard_normal((n, 2, h, w), dtype=np.float32)
    k, p = 7, h + 7  # row conv of the 7x7 kernel; planes one row longer (the diagonal view)
    rows = rng.standard_normal((k, 2, 1, k), dtype=np.float32)
    red = {"ax": _i64(2, 3), "axh": _i64(1, 2), "ch": _i64(1)}
    mul = [oh.make_node("Mul", ["x", "g"], ["out"])]
    return {
        "nchw ReduceMean over H, W": _graph(
            [oh.make_node("ReduceMean", ["x", "ax"], ["out"], keepdims=0)], {"x": x}, [n, c], red),
        "nchw ReduceMax over H, W": _graph(
            [oh.make_node("ReduceMax", ["x", "ax"], ["out"], keepdims=0)], {"x": x}, [n, c], red),
        "nchw Mul x * g[N,C,1,1]": _graph(mul, {"x": x, "g": g}, [n, c, h, w]),
        "nhwc ReduceMean over H, W": _graph(
            [oh.make_node("ReduceMean", ["x", "axh"], ["out"], keepdims=0)], {"x": xh}, [n, c],
            red),
        "nhwc ReduceMax over H, W": _graph(
            [oh.make_node("ReduceMax", ["x", "axh"], ["out"], keepdims=0)], {"x": xh}, [n, c],
            red),
        "nhwc MaxPool (4,4,1) + ReduceMax": _graph(
            _pooled("x", [4, 4, 1], [1, 2, 3]), {"x": xh}, [n, c],
            {"one": _i64(1), "rest": _i64(1, 2, 3)}),
        "nhwc Mul x * g[N,1,1,C]": _graph(mul, {"x": xh, "g": gh}, [n, h, w, c]),
        "nhwc Mul x * Expand(g)[N,1,W,C]": _graph(
            [oh.make_node("Expand", ["g", "e"], ["ge"]), oh.make_node("Mul", ["x", "ge"], ["out"])],
            {"x": xh, "g": gh}, [n, h, w, c], {"e": _i64(n, 1, w, c)}),
        "nchw channel ReduceMean": _graph(
            [oh.make_node("ReduceMean", ["x", "ch"], ["out"], keepdims=1)], {"x": x},
            [n, 1, h, w], red),
        "nchw channel ReduceMax": _graph(
            [oh.make_node("ReduceMax", ["x", "ch"], ["out"], keepdims=1)], {"x": x},
            [n, 1, h, w], red),
        "nchw channel MaxPool (16,1,1) + ReduceMax": _graph(
            _pooled("x", [16, 1, 1], [1, 2]), {"x": x}, [n, h, w],
            {"one": _i64(1), "rest": _i64(1, 2)}),
        "cbam conv path (row conv, diagonal ReduceSum, Sigmoid)": _graph(
            [oh.make_node("Conv", ["maps", "w"], ["r"], pads=[3, 3, 4, 3], kernel_shape=[1, k]),
             oh.make_node("Reshape", ["r", "flat"], ["rf"]),
             oh.make_node("Slice", ["rf", "zero", "diag", "one"], ["rs"]),
             oh.make_node("Reshape", ["rs", "view"], ["rv"]),
             oh.make_node("ReduceSum", ["rv", "one"], ["sm"], keepdims=0),
             oh.make_node("Slice", ["sm", "lo", "hi", "one"], ["sq"]),
             oh.make_node("Reshape", ["sq", "o4"], ["o"]),
             oh.make_node("Sigmoid", ["o"], ["out"])], {"maps": maps}, [n, 1, h, w],
            {"w": rows, "flat": _i64(n, -1), "zero": _i64(0), "one": _i64(1),
             "diag": _i64(k * (p - 1) * w), "view": _i64(n, k, (p - 1) * w),
             "lo": _i64((k - 1) * w), "hi": _i64((k - 1 + h) * w), "o4": _i64(n, 1, h, w)}),
        "nchw Mul x * s[N,1,H,W] (spatial gate)": _graph(
            [oh.make_node("Mul", ["x", "s"], ["out"])], {"x": x, "s": s}, [n, c, h, w]),
    }


def kernel_us(model: bytes, feeds: dict[str, np.ndarray], threads: int, runs: int = 60,
              warmup: int = 10) -> float:
    """Median over runs of the summed kernel time of one run (us), from the profiler."""
    s = session(model, threads, profile=True, spin=False)
    for _ in range(warmup + runs):
        s.run(None, feeds)
    per_run, current = [], 0.0
    for ev in json.loads(Path(s.end_profiling()).read_text()):
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            per_run.append(current)
            current = 0.0
        elif ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
            current += float(ev["dur"])
    return statistics.median(per_run[warmup:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    a = ap.parse_args()
    print("command: python " + " ".join(sys.argv))
    print("\n".join(machine()))
    graphs = kernels(a.batch, a.channels, a.size, a.size)
    for t in (int(v) for v in a.threads.split(",") if v.strip()):
        res: dict[str, list[float]] = {k: [] for k in graphs}
        load0 = os.getloadavg()[0]
        for _ in range(a.rounds):
            for k, (model, feeds) in graphs.items():
                res[k].append(kernel_us(model, feeds, t))
        print(f"\nthreads={t}, load {load0:.2f} -> {os.getloadavg()[0]:.2f}: summed kernel us "
              f"per run, median of {a.rounds} rounds [range]")
        for k, v in res.items():
            print(f"  {k:56} {statistics.median(v):7.1f}  [{min(v):.0f}-{max(v):.0f}]")


if __name__ == "__main__":
    main()
