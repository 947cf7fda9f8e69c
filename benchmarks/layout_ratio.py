"""The layout and family ratios, measured side by side in one run.

    python benchmarks/layout_ratio.py --threads 1 --batch 8
    python benchmarks/layout_ratio.py --threads 2 --baseline   # also the pre-rewrite graphs

Exports ``cbam-channel`` (nchw, nhwc) and ``cbam`` (nchw, nhwc) the way ``chanattn_export
onnx`` does, then times every artifact in onnxruntime and eager ``cbam`` in torch, in
alternating stretches (A, B, C, ... A, B, C, ...) so that a change in machine load hits every
case alike, and prints the medians and the ratios:

- ``nhwc / nchw`` for ``cbam-channel`` (target <= 1.15),
- ``cbam / cbam-channel`` for the nchw artifacts (target <= 2),
- ``cbam`` artifact / eager ``cbam``.

``--baseline`` adds the same blocks exported without the onnxruntime-specific rewrites
(``models/_pool.py``: MaxPool for strided maxima, a grouped spatial conv), i.e. the plain
``amax``/``Conv2d`` graphs the exporter wrote before, so before/after is one run too. The load
average is printed with the numbers: on a shared machine only the ratios mean something.
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
from profile_nodes import export_block, plain_graphs, session


def ort_call(data: bytes, x: np.ndarray, threads: int,
             spin: bool | None = None) -> Callable[[], object]:
    s = session(data, threads, spin=spin)
    name = s.get_inputs()[0].name
    return lambda: s.run(None, {name: x})


def eager_call(model: str, layout: str, x: np.ndarray, threads: int) -> Callable[[], object]:
    import torch

    from chanattn_export.registry import build_model, make_spec

    net = build_model(make_spec(model, x.shape[1 if layout == "nchw" else 3], layout=layout))
    xt = torch.from_numpy(x)
    torch.set_num_threads(threads)  # process-wide; onnxruntime sessions have their own pools

    def call() -> object:
        with torch.no_grad():
            return net(xt)
    return call


def measure(cases: dict[str, Callable[[], object]], stretches: int, calls: int,
            settle: float, clock: Callable[[], float] = time.perf_counter,
            ) -> dict[str, list[float]]:
    """Per-call seconds, case by case in alternating stretches (warm-up calls dropped)."""
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(stretches):
        for name, fn in cases.items():
            time.sleep(settle)  # let the previous backend's spinning threads go idle
            for _ in range(5):
                fn()
            for _ in range(calls):
                t0 = clock()
                fn()
                out[name].append(clock() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stretches", type=int, default=7)
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--settle", type=float, default=0.2)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: this thread's CPU time per call (only with --threads 1, where "
                         "both runtimes compute in the calling thread): robust to other "
                         "processes taking the cores, which wall time is not")
    ap.add_argument("--no-spin", action="store_true",
                    help="session.intra_op.allow_spinning=0: with several sessions alive, "
                         "idle pools spinning on 2 cores disturb the one being timed")
    ap.add_argument("--baseline", action="store_true",
                    help="also time the graphs exported without the onnxruntime rewrites")
    a = ap.parse_args()
    if a.clock == "cpu" and a.threads != 1:
        ap.error("--clock cpu needs --threads 1")
    spin = False if a.no_spin else None
    rng = np.random.default_rng(0)
    n, c, s = a.batch, a.channels, a.size
    x = {"nchw": rng.standard_normal((n, c, s, s), dtype=np.float32),
         "nhwc": rng.standard_normal((n, s, s, c), dtype=np.float32)}
    cases: dict[str, Callable[[], object]] = {}
    for model in ("cbam-channel", "cbam"):
        for layout in ("nchw", "nhwc"):
            cases[f"{model} {layout} onnx"] = ort_call(
                export_block(model, layout, c, s), x[layout], a.threads, spin)
            if a.baseline:
                with plain_graphs():
                    data = export_block(model, layout, c, s)
                cases[f"{model} {layout} onnx-before"] = ort_call(data, x[layout], a.threads,
                                                                  spin)
    cases["cbam nchw eager"] = eager_call("cbam", "nchw", x["nchw"], a.threads)
    load0 = os.getloadavg()[0]
    clock = time.thread_time if a.clock == "cpu" else time.perf_counter
    samples = measure(cases, a.stretches, a.calls, a.settle, clock)
    load1 = os.getloadavg()[0]
    med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    print(f"{n}x{c}x{s}x{s} float32, threads={a.threads}, {a.stretches} alternating stretches "
          f"x {a.calls} calls, {a.clock} clock{', no spinning' * a.no_spin}, "
          f"load average {load0:.2f} -> {load1:.2f}")
    for k, v in med.items():
        q1, _, q3 = statistics.quantiles([t * 1e3 for t in samples[k]], n=4)
        print(f"  {k:32} median {v:7.3f} ms  IQR {q3 - q1:6.3f}")

    def ratio(label: str, num: str, den: str, target: str = "") -> None:
        if num in med and den in med:
            print(f"  {label:52} {med[num] / med[den]:5.2f}  {target}")

    print("ratios (same run):")
    ratio("cbam-channel onnx: nhwc / nchw", "cbam-channel nhwc onnx", "cbam-channel nchw onnx",
          "(target <= 1.15)")
    ratio("cbam onnx nchw / cbam-channel onnx nchw", "cbam nchw onnx", "cbam-channel nchw onnx",
          "(target <= 2)")
    ratio("cbam onnx nchw / cbam eager nchw", "cbam nchw onnx", "cbam nchw eager",
          "(target < 1)")
    ratio("cbam onnx: nhwc / nchw", "cbam nhwc onnx", "cbam nchw onnx")
    if a.baseline:
        ratio("before: cbam-channel onnx nhwc / nchw", "cbam-channel nhwc onnx-before",
              "cbam-channel nchw onnx-before")
        ratio("before: cbam onnx nchw / cbam-channel onnx nchw", "cbam nchw onnx-before",
              "cbam-channel nchw onnx-before")
        for model in ("cbam-channel", "cbam"):
            for layout in ("nchw", "nhwc"):
                ratio(f"after / before: {model} {layout}", f"{model} {layout} onnx",
                      f"{model} {layout} onnx-before")


if __name__ == "__main__":
    main()
