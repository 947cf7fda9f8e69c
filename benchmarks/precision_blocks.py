"""Every registered block at fp16 and int8 through the export gate: verdict and measures.

    python benchmarks/precision_blocks.py [--channels 64] [--size 56] [--layouts nchw,nhwc]

Prints one row per block, layout and precision: PASS, or FAIL with the measure that failed;
for fp16 the largest atol any case needed (at fp16's rtol) on each runner, for int8 the
worst judged SQNR and cosine and the recipe ``auto`` chose. The numbers in docs/precision.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from chanattn_export import api, list_models

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--layouts", default="nchw,nhwc")
    ap.add_argument("--models", default=None)
    args = ap.parse_args(argv)
    models = args.models.split(",") if args.models else [m.name for m in list_models()]
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"{'model':18s} {'layout':6s} {'prec':5s} {'gate':4s}  measures")
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            for layout in args.layouts.split(","):
                for p in ("fp16", "int8"):
                    res = api.export_onnx(name, layout=layout, precision=p,
                                          channels=args.channels, height=args.size,
                                          width=args.size, out=Path(tmp) / p)
                    print(f"{name:18s} {layout:6s} {p:5s} {'PASS' if res.passed else 'FAIL'}"
                          f"  {_measures(res)}", flush=True)
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


def _measures(res) -> str:
    rep = res.parity
    if not rep.passed:
        c = rep.failures[0]
        return f"{c.backend} {c.case}: {c.why or f'needs atol {c.needed_atol:.3g}'}"
    if (rep.gate or {}).get("bound") == "sqnr":
        judged = [c for c in rep.checks if c.judged and c.sqnr_db is not None]
        s = min(c.sqnr_db for c in judged)
        k = min(c.cosine for c in judged)
        return (f"worst SQNR {s:.1f} dB, cosine {k:.5f} ({len(judged)} judged), "
                f"recipe {rep.gate.get('recipe')}")
    worst: dict[str, float] = {}
    for c in rep.checks:
        worst[c.backend] = max(worst.get(c.backend, 0.0), c.needed_atol)
    return ", ".join(f"{b} atol {v:.2g}" for b, v in worst.items())


if __name__ == "__main__":
    raise SystemExit(main())
