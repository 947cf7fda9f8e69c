"""fp32 vs fp16 vs int8 artifacts of an SE-ResNet-18-shaped network: the gate's verdicts, the
file sizes and onnxruntime's speed, side by side (docs/precision.md, benchmarks/NOTES.md).

    python benchmarks/precision_ratio.py [--batch 8] [--size 224] [--threads 2]
        [--stretches 5] [--calls 10] [--precisions fp32,int8,fp16] [--out DIR]

Each precision is exported through the toolkit (``export_onnx(net, precision=...)``: the same
gate as any artifact, calibrated on the default data), then the written files are timed in
onnxruntime on one random batch: alternating stretches of ``--calls`` calls per file, each
after a settle pause, medians of the stretch medians. Prints the load average before and after
(the box is shared: a ratio under load > 1 is owed a quiet re-run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from chanattn_export.bench.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def export_all(precisions: list[str], batch: int, size: int, out: Path) -> dict[str, dict]:
    """Each precision through the toolkit's gate; what its manifest entry says."""
    import torch
    from se_resnet18 import build

    from chanattn_export import api
    from chanattn_export.network.swap import swap_attention

    net, report = swap_attention(build(), torch.randn(1, 3, size, size))
    print(f"swap_attention replaced {len(report.replaced)} SE blocks", flush=True)
    facts = {}
    for p in precisions:
        t0 = time.perf_counter()
        res = api.export_onnx(net, input_shape=(batch, 3, size, size), name="se-resnet18",
                              precision=p, out=out, keep_failed=True,
                              progress=lambda m: print("  " + m, flush=True))
        entry = next(e for e in json.loads((out / "manifest.json").read_text())["artifacts"]
                     if e["path"] == res.path.name) if res.passed else None
        conv = (entry or {}).get("conversion") or {}
        facts[p] = {"path": res.path, "passed": res.passed, "bytes": res.size_bytes,
                    "seconds": time.perf_counter() - t0, "parity": res.parity,
                    "measures": conv.get("measures", {}),
                    "recipe": (conv.get("recipe") or {}).get("recipe"),
                    "scores": conv.get("recipe_scores")}
        print(f"{p}: gate {'PASS' if res.passed else 'FAIL'}, {res.size_bytes / 1e6:.1f} MB, "
              f"{facts[p]['seconds']:.0f} s, measures {facts[p]['measures']}, recipe "
              f"{facts[p]['recipe']} {facts[p]['scores'] or ''}", flush=True)
        for c in res.parity.failures[:3]:
            print(f"    FAIL {c.backend} {c.case} {list(c.shape)}: {c.why or c.needed_atol}")
    return facts


def time_files(paths: dict[str, Path], batch: int, size: int, threads: int, stretches: int,
               calls: int, settle: float = 1.0) -> dict[str, list[float]]:
    """Stretch medians (ms) per file, the files alternating stretch by stretch."""
    import onnxruntime as ort

    sessions = {}
    for p, path in paths.items():
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
        o.log_severity_level = 3
        sessions[p] = ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    feeds = {p: {s.get_inputs()[0].name: x.astype(np.float16)
                 if s.get_inputs()[0].type == "tensor(float16)" else x}
             for p, s in sessions.items()}
    for p, s in sessions.items():  # warm-up
        for _ in range(2):
            s.run(None, feeds[p])
    medians: dict[str, list[float]] = {p: [] for p in sessions}
    for _ in range(stretches):
        for p, s in sessions.items():
            time.sleep(settle)
            ts = []
            for _ in range(calls):
                t0 = time.perf_counter()
                s.run(None, feeds[p])
                ts.append((time.perf_counter() - t0) * 1e3)
            medians[p].append(statistics.median(ts))
    return medians


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stretches", type=int, default=5)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--precisions", default="fp32,int8,fp16")
    ap.add_argument("--out", type=Path, default=None, help="artifact folder (default: temp)")
    args = ap.parse_args(argv)
    precisions = args.precisions.split(",")
    print(f"{cpu_model()}, {os.cpu_count()} CPUs; {_load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        facts = export_all(precisions, args.batch, args.size, out)
        print(f"before timing: {_load()}", flush=True)
        meds = time_files({p: f["path"] for p, f in facts.items() if f["path"].exists()},
                          args.batch, args.size, args.threads, args.stretches, args.calls)
        print(f"after timing: {_load()}", flush=True)
    base = statistics.median(meds["fp32"]) if "fp32" in meds else None
    print(f"\nbatch {args.batch}, {args.size}x{args.size}, {args.threads} threads, "
          f"{args.stretches} alternating stretches x {args.calls} calls")
    print("precision  gate  MB      size/fp32  median ms  stretch medians            fp32/this")
    for p, f in facts.items():
        m = statistics.median(meds[p]) if p in meds else float("nan")
        size = f["bytes"] / facts["fp32"]["bytes"] if "fp32" in facts else float("nan")
        speed = base / m if base else float("nan")
        spread = ", ".join(f"{v:.0f}" for v in meds.get(p, []))
        print(f"{p:9s}  {'PASS' if f['passed'] else 'FAIL'}  {f['bytes'] / 1e6:6.1f}  "
              f"{size:9.3f}  {m:9.1f}  {spread:25s}  {speed:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
