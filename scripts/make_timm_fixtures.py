"""Write tests/fixtures/timm/*.safetensors: timm's own attention modules, their weights, an
input and timm's output, so tests/test_timm.py can check our ``preset="timm"`` blocks against
timm without importing timm (whose package import needs torchvision, which has no CPU wheel
for torch 2.13 on the package index).

How it was run (once, CPU, torch 2.13.0+cpu, timm 1.0.31):

    pip install --no-deps --target /tmp/timm timm==1.0.31
    PYTHONPATH=/tmp/timm python scripts/make_timm_fixtures.py

Only ``timm.layers`` is imported: ``timm/__init__`` (models, data) is skipped and the one
torchvision name ``timm.layers`` touches at import (``torchvision.ops.misc.FrozenBatchNorm2d``)
is stubbed; none of the modules used here calls torchvision.

Every float parameter and buffer is redrawn at random (BatchNorm variances > 0) so that
zero-initialised layers and default BatchNorm statistics cannot hide a difference.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "timm"

# (fixture name, timm class, channels, our registry name)
CASES = [
    ("se-c32", "SEModule", 32, "se"),  # timm hidden 8, C // 16 = 2
    ("se-c96", "SEModule", 96, "se"),  # 8 vs 6
    ("ese-c16", "EffectiveSEModule", 16, "ese"),
    ("eca-c4", "EcaModule", 4, "eca"),  # timm k = 3, the paper's rule gives 1
    ("eca-c64", "EcaModule", 64, "eca"),
    ("ceca-c32", "CecaModule", 32, "ceca"),
    ("cbam-c24", "CbamModule", 24, "cbam"),  # round(24 / 16) = 2, floor = 1; spatial conv + BN
    ("gc-c20", "GlobalContext", 20, "gc"),  # round(20 / 8) = 3
    ("gc-c32", "GlobalContext", 32, "gc"),
]
SHAPE_HW = (5, 6)


def import_timm_layers() -> types.ModuleType:
    misc = types.ModuleType("torchvision.ops.misc")
    misc.FrozenBatchNorm2d = type("FrozenBatchNorm2d", (), {})  # name only, never used here
    ops = types.ModuleType("torchvision.ops")
    ops.misc = misc
    tv = types.ModuleType("torchvision")
    tv.ops = ops
    sys.modules.update({"torchvision": tv, "torchvision.ops": ops, "torchvision.ops.misc": misc})
    found = importlib.util.find_spec("timm")
    if found is None:
        raise SystemExit("timm is not importable; see this script's docstring")
    pkg = types.ModuleType("timm")  # skip timm/__init__ (imports timm.models and timm.data)
    pkg.__path__ = list(found.submodule_search_locations or [])
    sys.modules["timm"] = pkg
    import timm.layers
    import timm.layers.cbam  # CbamModule is not re-exported by timm.layers

    timm.layers.CbamModule = timm.layers.cbam.CbamModule
    return timm.layers


def main() -> None:
    from safetensors.torch import save_file

    layers = import_timm_layers()
    version = (Path(layers.__file__).parent.parent / "version.py").read_text().split("'")[1]
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (name, cls_name, channels, ours) in enumerate(CASES):
        torch.manual_seed(1000 + i)
        m = getattr(layers, cls_name)(channels).eval()
        with torch.no_grad():
            for key, t in m.state_dict().items():
                if t.is_floating_point():
                    r = torch.randn(t.shape) * 0.5
                    t.copy_(r.abs() + 0.5 if key.endswith("running_var") else r)
        x = torch.randn(2, channels, *SHAPE_HW) * 2
        with torch.no_grad():
            y = m(x)
        tensors = {f"state.{k}": v.contiguous() for k, v in m.state_dict().items()}
        tensors.update(input=x.contiguous(), output=y.contiguous())
        meta = {"timm_class": cls_name, "timm_version": version, "channels": str(channels),
                "model": ours, "torch_version": torch.__version__}
        save_file(tensors, str(OUT / f"{name}.safetensors"), metadata=meta)
        print(f"wrote {name}.safetensors ({cls_name}({channels}), timm {version})")


if __name__ == "__main__":
    main()
