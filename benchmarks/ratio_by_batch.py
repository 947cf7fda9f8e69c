"""The goal ratios as the working set grows: do they depend on what fits in the caches?

    python benchmarks/ratio_by_batch.py --batches 1,2,4,8,16 --threads 1

The same four artifacts as ``layout_ratio.py`` (``cbam-channel`` and ``cbam``, nchw and nhwc,
exported once with a dynamic batch), timed at each batch size in alternating stretches, one
batch size after the other. Prints the machine (CPU, ISA, caches) and the load with the
figures. A ratio that moves with the batch, where the bytes per call cross a cache size, is a
ratio that will differ between machines with other caches: quote it with ``lscpu``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout_ratio import machine, measure, ort_call
from profile_nodes import export_block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="1,2,4,8,16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--stretches", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20)
    a = ap.parse_args()
    print("command: python " + " ".join(sys.argv))
    print("\n".join(machine()))
    c, s = a.channels, a.size
    graphs = {f"{m} {lay}": export_block(m, lay, c, s)
              for m in ("cbam-channel", "cbam") for lay in ("nchw", "nhwc")}
    clock = time.thread_time if a.threads == 1 else time.perf_counter
    print(f"threads={a.threads}, {'cpu' if a.threads == 1 else 'wall'} clock, spinning off, "
          f"{a.stretches} stretches x {a.calls} calls")
    print(f"{'batch':>5} {'x MiB':>6} {'load':>11}  " + "  ".join(f"{k:>17}" for k in graphs)
          + "  nhwc/nchw  cbam/cbam-channel")
    rng = np.random.default_rng(0)
    for n in (int(b) for b in a.batches.split(",")):
        x = {"nchw": rng.standard_normal((n, c, s, s), dtype=np.float32),
             "nhwc": rng.standard_normal((n, s, s, c), dtype=np.float32)}
        cases = {k: ort_call(g, x[k.split()[1]], a.threads, spin=False) for k, g in graphs.items()}
        load0 = os.getloadavg()[0]
        t = measure(cases, a.stretches, a.calls, 0.1, clock)
        med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        r1 = med["cbam-channel nhwc"] / med["cbam-channel nchw"]
        r2 = med["cbam nchw"] / med["cbam-channel nchw"]
        print(f"{n:5d} {x['nchw'].nbytes / 2**20:6.1f} {load0:5.2f}-{os.getloadavg()[0]:5.2f}  "
              + "  ".join(f"{v:14.3f} ms" for v in med.values()) + f"  {r1:9.2f}  {r2:17.2f}")


if __name__ == "__main__":
    main()
