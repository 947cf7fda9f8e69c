"""The speed goals, measured side by side in one run, at every thread count asked for.

    python benchmarks/layout_ratio.py --threads 1,2 --no-spin --baseline

Exports ``cbam-channel`` (nchw, nhwc) and ``cbam`` (nchw, nhwc) the way ``chanattn_export
onnx`` does, then, for each thread count, times every artifact in onnxruntime (and eager
``cbam`` in torch at one thread) in alternating stretches (A, B, C, ... A, B, C, ...) so that a
change in machine load hits every case alike, and prints the medians and the goals:

- ``nhwc / nchw`` for ``cbam-channel`` (goal <= 1.15 at 1 and at 2 threads),
- ``cbam / cbam-channel`` for the nchw artifacts (goal <= 2.6 at 1 and at 2 threads),
- ``cbam`` artifact / eager ``cbam`` (goal < 1, one thread).

``--baseline`` adds the same blocks exported without the onnxruntime-specific rewrites
(``models/_pool.py``), and ``--ablate`` each block once per rewrite it carries, exported without
that one rewrite: each kept rewrite must show that it still wins on its own (with / without < 1)
at every thread count, in the same run.

Everything a recorded figure needs is printed first: the command, CPU model, ISA extensions
that change onnxruntime's kernels (AVX2, AVX-512, AMX), cache sizes, transparent huge pages,
versions, and the load average before and after each thread count. At one thread both the wall
clock and the calling thread's CPU time per call are reported (``cpu``: both runtimes compute
in the calling thread, and time other processes hold the core does not count); at more threads
only the wall clock means anything. On a shared machine only ratios within one run compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_nodes import export_block, plain_graphs, session

GOALS = {  # label: (numerator, denominator, bound)
    "cbam-channel onnx: nhwc / nchw": ("cbam-channel nhwc onnx", "cbam-channel nchw onnx", 1.15),
    "cbam / cbam-channel (onnx, nchw)": ("cbam nchw onnx", "cbam-channel nchw onnx", 2.6),
    "cbam onnx / cbam eager (nchw)": ("cbam nchw onnx", "cbam nchw eager", 1.0),
}
ISA = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def export_without(model: str, layout: str, channels: int, size: int,
                   rewrite: str | None = None) -> tuple[bytes, tuple[str, ...]]:
    """The artifact's bytes (as ``chanattn_export onnx`` writes them) and its rewrites, exported
    without ``rewrite`` when one is named."""
    from chanattn_export.export import export_bytes
    from chanattn_export.models import _pool
    from chanattn_export.registry import build_model, make_spec
    from chanattn_export.spec import ExportSpec, Format, InputSpec, Layout

    spec = make_spec(model, channels, layout=Layout(layout))
    es = ExportSpec(model=spec, input=InputSpec(height=size, width=size), format=Format.ONNX)
    if rewrite:
        _pool.DISABLED.add(rewrite)
    try:
        ex = export_bytes(build_model(spec, seed=0), es)
    finally:
        _pool.DISABLED.discard(rewrite or "")
    return ex.data, ex.rewrites


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
            cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Per-call seconds, case by case in alternating stretches (warm-up calls dropped); with
    ``cpu``, the calling thread's CPU seconds per call go there too (same calls)."""
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(stretches):
        for name, fn in cases.items():
            time.sleep(settle)  # let the previous backend's spinning threads go idle
            for _ in range(5):
                fn()
            for _ in range(calls):
                c0, t0 = time.thread_time(), clock()
                fn()
                out[name].append(clock() - t0)
                if cpu is not None:
                    cpu.setdefault(name, []).append(time.thread_time() - c0)
    return out


def machine() -> list[str]:
    """What a recorded figure must name: CPU, ISA, caches, huge pages, versions."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        lscpu = ""
    info = dict(ln.split(":", 1) for ln in lscpu.splitlines() if ":" in ln)
    info = {k.strip(): v.strip() for k, v in info.items()}
    flags = set(info.get("Flags", "").split())
    caches = ", ".join(f"{k.split()[0]} {info[k]}" for k in
                       ("L1d cache", "L2 cache", "L3 cache") if k in info)
    try:
        thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        thp = "?"
    import onnxruntime
    import torch

    return [f"cpu: {info.get('Model name', platform.processor() or '?')} (family "
            f"{info.get('CPU family', '?')}, model {info.get('Model', '?')}), "
            f"{os.cpu_count()} logical CPUs, hypervisor {info.get('Hypervisor vendor', 'none')}",
            f"isa: {' '.join(f for f in ISA if f in flags) or 'none of ' + ' '.join(ISA)}",
            f"caches: {caches or '?'}; transparent huge pages: {thp}",
            f"versions: onnxruntime {onnxruntime.__version__}, torch {torch.__version__}, "
            f"python {platform.python_version()}"]


def _stats(samples: list[float]) -> tuple[float, float]:
    ms = [t * 1e3 for t in samples]
    q1, _, q3 = statistics.quantiles(ms, n=4)
    return statistics.median(ms), q3 - q1


def run(threads: int, graphs: dict[str, bytes], x: dict[str, np.ndarray],
        a: argparse.Namespace) -> dict[str, float]:
    """Time every artifact at ``threads``; print the table and the goals; the medians (ms)."""
    spin = False if a.no_spin else None
    cases = {k: ort_call(g, x[k.split()[1]], threads, spin) for k, g in graphs.items()}
    if threads == 1:
        cases["cbam nchw eager"] = eager_call("cbam", "nchw", x["nchw"], 1)
    cpu: dict[str, list[float]] = {}
    load0 = os.getloadavg()
    wall = measure(cases, a.stretches, a.calls, a.settle, time.perf_counter,
                   cpu if threads == 1 else None)
    load1 = os.getloadavg()
    print(f"\nthreads={threads}: {a.stretches} alternating stretches x {a.calls} calls, "
          f"spinning {'off' if a.no_spin else 'onnxruntime default'}, load average (1, 5, 15 "
          f"min) {', '.join(f'{v:.2f}' for v in load0)} -> {', '.join(f'{v:.2f}' for v in load1)}")
    med = {k: _stats(v)[0] for k, v in wall.items()}
    med_cpu = {k: _stats(v)[0] for k, v in cpu.items()}
    for k in wall:
        m, iqr = _stats(wall[k])
        extra = f"  cpu {_stats(cpu[k])[0]:7.3f} (IQR {_stats(cpu[k])[1]:.3f})" if cpu else ""
        print(f"  {k:58} wall {m:7.3f} ms (IQR {iqr:.3f}){extra}")
    # One thread: the verdicts use the calling thread's CPU time (time other processes hold the
    # core does not count); more threads: the wall clock, the only one that means anything.
    basis, clock = (med_cpu, "cpu clock") if med_cpu else (med, "wall clock")
    print(f"  goals at {threads} thread{'s' * (threads > 1)} (same run; verdict by {clock}):")
    for label, (num, den, bound) in GOALS.items():
        if num in med and den in med:
            r = basis[num] / basis[den]
            rw = f" (wall {med[num] / med[den]:.2f})" if med_cpu else ""
            verdict = "met" if r <= bound else "NOT met"
            print(f"    {label:36} {r:5.2f}{rw}  goal <= {bound:g}: {verdict}")
    med = basis
    if a.baseline or a.ablate:
        print(f"  rewrites (with / without by {clock}, < 1: the rewrite wins):")
        for k in graphs:
            for without in (k2 for k2 in graphs if k2.startswith(f"{k} without ")):
                r = med[k] / med[without]
                name = without.split(" without ")[1]
                print(f"    {name:24} in {k:24} {r:5.2f}  "
                      + ("wins" if r < 1 else "does NOT win"))
            if not k.endswith("-before") and f"{k}-before" in med:
                r = med[k] / med[f"{k}-before"]
                same = graphs[k] == graphs[f"{k}-before"]
                verdict = ("same graph (no rewrite): the noise level" if same
                           else "wins" if r < 1 else "does NOT win")
                print(f"    {'all of them':24} in {k:24} {r:5.2f}  {verdict}")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--threads", default="1,2",
                    help="comma-separated intra-op thread counts, each measured in turn")
    ap.add_argument("--stretches", type=int, default=7)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--settle", type=float, default=0.2)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="kept for old command lines: both clocks are reported at 1 thread")
    ap.add_argument("--no-spin", action="store_true",
                    help="session.intra_op.allow_spinning=0: with several sessions alive, "
                         "idle pools spinning on 2 cores disturb the one being timed")
    ap.add_argument("--baseline", action="store_true",
                    help="also time the graphs exported without the onnxruntime rewrites")
    ap.add_argument("--ablate", action="store_true",
                    help="also time each graph once per rewrite it carries, without that one")
    a = ap.parse_args()
    thread_counts = [int(t) for t in str(a.threads).split(",") if t.strip()]
    print("command: python " + " ".join(shlex.quote(s) for s in sys.argv))
    print("\n".join(machine()))
    rng = np.random.default_rng(0)
    n, c, s = a.batch, a.channels, a.size
    print(f"input: {n}x{c}x{s}x{s} float32 (nchw and nhwc), "
          f"{n * c * s * s * 4 / 2**20:.1f} MiB")
    x = {"nchw": rng.standard_normal((n, c, s, s), dtype=np.float32),
         "nhwc": rng.standard_normal((n, s, s, c), dtype=np.float32)}
    graphs: dict[str, bytes] = {}
    for model in ("cbam-channel", "cbam"):
        for layout in ("nchw", "nhwc"):
            graphs[f"{model} {layout} onnx"], rewrites = export_without(model, layout, c, s)
            for r in rewrites if a.ablate else ():
                graphs[f"{model} {layout} onnx without {r}"] = \
                    export_without(model, layout, c, s, r)[0]
            if a.baseline:
                with plain_graphs():
                    graphs[f"{model} {layout} onnx-before"] = export_block(model, layout, c, s)
    for threads in thread_counts:
        run(threads, graphs, x, a)


if __name__ == "__main__":
    main()
