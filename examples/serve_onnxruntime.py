"""Serve a chanattn_export artifact folder with numpy and onnxruntime only: no torch needed.

Install on the deployment host, then run on a batch saved with ``np.save``:

    pip install --no-deps chanattn_export && pip install numpy onnxruntime
    python serve_onnxruntime.py artifacts batch.npy --model cbam-channel --out out.npy

``load_artifact`` refuses a model that failed parity or whose file does not match the manifest's
sha256, and ``run`` refuses a batch of the wrong shape or dtype with a one-line error.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from chanattn_export.errors import ChanAttnError
from chanattn_export.serving import load_artifact


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="artifact folder (holds manifest.json)")
    p.add_argument("batch", help=".npy file with a float32 batch in the model's layout")
    p.add_argument("--model", default=None, help="artifact file or model name (if several)")
    p.add_argument("--out", default=None, help="save the output here (.npy)")
    p.add_argument("--cuda", action="store_true", help="prefer CUDA, fall back to the CPU")
    args = p.parse_args(argv)
    try:
        model = load_artifact(args.folder, args.model,
                              providers=["cuda", "cpu"] if args.cuda else "cpu")
        x = np.load(args.batch)  # allow_pickle=False: an .npy cannot run code
        y = model.run(x)
    except (ChanAttnError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if model.fallback_reason:
        print(f"note: {model.fallback_reason}", file=sys.stderr)
    print(f"{model.path.name} on {model.provider}: input {list(x.shape)} -> output "
          f"{list(y.shape)}; parity at export: {'passed' if model.parity.passed else 'FAILED'}")
    if args.out:
        np.save(args.out, y)
    return 0


if __name__ == "__main__":
    sys.exit(main())
