"""Do the CLI, the pytest-benchmark suite and a plain perf_counter loop agree on the same case?
Each runs in its own process, one after the other (docs/benchmarks.md, "Do the numbers agree?").

    python benchmarks/check_agreement.py --model cbam-channel --batch 8 --threads 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN_LOOP = r'''
import sys, time, statistics
import numpy as np, onnxruntime as ort
path, batch, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions(); o.intra_op_num_threads = threads
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
shape = [batch] + [d for d in s.get_inputs()[0].shape[1:]]
x = np.random.default_rng(batch).standard_normal(shape, dtype=np.float32)
for _ in range(10):
    s.run(None, {name: x})
ts = []
for _ in range(repeats):
    t0 = time.perf_counter(); s.run(None, {name: x}); ts.append(time.perf_counter() - t0)
print(statistics.median(ts) * 1e3)
'''

EXPORT = r'''
import sys
from chanattn_export.bench.backends import ModelArtifacts
from chanattn_export.spec import Format
open(sys.argv[2], "wb").write(ModelArtifacts.build(sys.argv[1]).file(Format.ONNX))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="cbam-channel")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", default="onnxruntime,eager")
    ap.add_argument("--repeats", type=int, default=300)
    a = ap.parse_args()
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="bench-agree-"))
    rows: dict[str, dict[str, float]] = {}

    subprocess.run([py, "-m", "chanattn_export", "bench", "--models", a.model, "--backends",
                    a.backends, "--devices", "cpu", "--batch-sizes", str(a.batch), "--threads",
                    str(a.threads), "--repeats", str(a.repeats), "--out", str(tmp / "cli"),
                    "--no-progress", "--no-plot"], check=True, stdout=subprocess.DEVNULL)
    from chanattn_export.bench.files import read_json

    for r in read_json(tmp / "cli" / "bench.json")[1]:
        rows.setdefault(r.backend, {})["cli"] = r.median_ms

    time.sleep(1)
    ids = " or ".join(f"{a.model}-{b}-cpu-b{a.batch}]" for b in a.backends.split(","))
    subprocess.run([py, "-m", "pytest", "benchmarks/", "--benchmark-only", "-q", "-p",
                    "no:cacheprovider", "-k", ids, "--bench-threads", str(a.threads),
                    f"--benchmark-json={tmp / 'suite.json'}"], check=True,
                   stdout=subprocess.DEVNULL)
    for b in json.loads((tmp / "suite.json").read_text())["benchmarks"]:
        if b["extra_info"]["model"] == a.model:
            rows.setdefault(b["extra_info"]["backend"], {})["pytest"] = \
                b["stats"]["median"] * 1e3

    time.sleep(1)
    onnx = tmp / "model.onnx"
    subprocess.run([py, "-c", EXPORT, a.model, str(onnx)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run([py, "-c", PLAIN_LOOP, str(onnx), str(a.batch), str(a.threads),
                          str(a.repeats)], check=True, capture_output=True, text=True)
    rows.setdefault("onnxruntime", {})["perf_counter"] = float(out.stdout.strip())

    print(f"case: {a.model}, cpu, float32, batch {a.batch}, {a.threads} threads "
          f"(median ms)")
    for backend, v in rows.items():
        cols = "  ".join(f"{k} {x:.3f}" for k, x in v.items())
        ref = v.get("cli")
        ratios = "  ".join(f"{k}/cli {x / ref:.3f}" for k, x in v.items() if ref and k != "cli")
        print(f"{backend:12s} {cols}   {ratios}")


if __name__ == "__main__":
    main()
