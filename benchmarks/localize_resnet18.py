"""How long localising a divergence takes on a ResNet-18-sized network (the goal: under 60 s
on the project's 2-core CPU box).

    python benchmarks/localize_resnet18.py                 # SE-ResNet-18, swapped, 224x224
    python benchmarks/localize_resnet18.py --no-swap       # timm's SEModule kept (conv fc1/fc2)
    python benchmarks/localize_resnet18.py --runs 3

The network is the test suite's stand-in for timm's ``seresnet18`` (``tests/se_resnet.py``:
timm's module names, ResNet-18's widths and depths, random weights and BatchNorm statistics),
optionally through ``swap_attention``. It is exported as ``chanattn_export onnx --network``
would (dynamo), a divergence is planted in the last block (its SE gate's second weight scaled
by 1.5), and ``chanattn_export.localize`` is timed end to end on one batch-1 224x224 input:
the clean file too (which only runs the file and the module once). Prints the load average,
CPU model and thread counts with the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _lscpu() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor()
    keep = ("Model name", "CPU(s)", "L1d", "L2", "L3")
    return "; ".join(" ".join(line.split()) for line in text.splitlines()
                     if line.strip().startswith(keep))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-swap", action="store_true", help="keep timm's SEModule")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--runs", type=int, default=1, help="timed localisations of the planted file")
    args = p.parse_args()

    import onnx
    import torch
    from onnx import numpy_helper

    sys.path.insert(0, str(ROOT / "tests"))
    from se_resnet import seresnet

    from chanattn_export import localize, swap_attention
    from chanattn_export.export import export_bytes
    from chanattn_export.network.spec import network_spec

    shape = (1, 3, args.size, args.size)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    net = seresnet()
    if not args.no_swap:
        net, report = swap_attention(net, torch.from_numpy(x))
        assert len(report.replaced) == 8
    t0 = time.perf_counter()
    data = export_bytes(net, network_spec(net, "onnx", shape, name="seresnet18"),
                        registered=False).data
    export_s = time.perf_counter() - t0
    model = onnx.load_from_string(data)
    target = "layer4.1.se.fc2.weight"
    t = next(t for t in model.graph.initializer if t.name == target)
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(1.5), t.name))
    bad = model.SerializeToString()

    t0 = time.perf_counter()
    assert localize(net, data, x) is None
    clean_s = time.perf_counter() - t0
    times, found = [], None
    for _ in range(args.runs):
        t0 = time.perf_counter()
        found = localize(net, bad, x)
        times.append(time.perf_counter() - t0)
    load = os.getloadavg()
    print(f"network: SE-ResNet-18 stand-in ({'timm SEModule' if args.no_swap else 'swapped'}), "
          f"{sum(p.numel() for p in net.parameters()) / 1e6:.1f} M parameters, "
          f"{len(model.graph.node)} ONNX nodes, input {list(shape)}")
    print(f"found: {found.line() if found else None}")
    print(f"localise (planted, {args.runs} run(s)): median {statistics.median(times):.1f} s, "
          f"max {max(times):.1f} s; clean file: {clean_s:.1f} s; export: {export_s:.1f} s")
    print(f"torch threads {torch.get_num_threads()}, onnxruntime default threads; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"cpu: {_lscpu()}")


if __name__ == "__main__":
    main()
