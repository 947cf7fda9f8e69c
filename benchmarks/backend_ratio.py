"""Eager, TorchScript, torch.export (``.pt2``) and onnxruntime side by side, in one run.

    python benchmarks/backend_ratio.py --models cbam-channel,cbam,se --batches 1,8

``bench`` times each backend in its own contiguous stretch, which a shared machine's load
changes distort. This opens the very same callables ``bench`` times
(:class:`~chanattn_export.bench.backends.BackendHandle`: the files ``chanattn_export`` writes,
loaded as parity loads them) and times them in alternating stretches (A, B, C, D, A, B, ...),
1 thread, this thread's CPU time per call by default (all four compute in the calling thread at
1 thread, and CPU time does not count the time other processes hold the core). It prints the
medians, each backend over eager, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

BACKENDS = ("eager", "torchscript", "torch-export", "onnxruntime")


def main() -> None:
    from chanattn_export.bench.backends import BackendHandle, ModelArtifacts
    from chanattn_export.spec import Device, DType

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="cbam-channel,cbam,se,eca")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--stretches", type=int, default=7)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="cpu")
    a = ap.parse_args()
    clock = time.thread_time if a.clock == "cpu" else time.perf_counter
    backends = a.backends.split(",")
    for model in a.models.split(","):
        art = ModelArtifacts.build(model)
        handles = {b: BackendHandle(art, b, Device.CPU, DType.FLOAT32, 1) for b in backends}
        for batch in (int(b) for b in a.batches.split(",")):
            preps = {b: h.case(batch) for b, h in handles.items()}
            samples: dict[str, list[float]] = {b: [] for b in preps}
            load0 = os.getloadavg()[0]
            for _ in range(a.stretches):
                for b, p in preps.items():
                    with p.context():
                        for _ in range(5):
                            p.step()
                        for _ in range(a.calls):
                            t0 = clock()
                            p.step()
                            samples[b].append(clock() - t0)
            load1 = os.getloadavg()[0]
            med = {b: statistics.median(v) * 1e3 for b, v in samples.items()}
            ref = med.get("eager")
            print(f"{model} batch {batch} ({'x'.join(map(str, art.shape(batch)))}), 1 thread, "
                  f"{a.clock} clock, {a.stretches} x {a.calls} alternating calls, "
                  f"load {load0:.2f} -> {load1:.2f}")
            for b, v in med.items():
                q1, _, q3 = statistics.quantiles([t * 1e3 for t in samples[b]], n=4)
                rel = f"  x eager {v / ref:5.2f}" if ref else ""
                print(f"  {b:13} median {v:8.3f} ms  IQR {q3 - q1:7.3f}{rel}")
        for h in handles.values():
            h.close()


if __name__ == "__main__":
    main()
