"""Third-party blocks registered through the ``chanattn_export.models`` entry-point group get
``list``, export and parity like the built-in ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = '''
"""A tiny third-party block: x * sigmoid(scale * mean(x)), one parameter per channel."""
import torch
from torch import nn

from chanattn_export.registry import register
from chanattn_export.spec import Layout


class MeanGate(nn.Module):
    def __init__(self, channels, *, layout=Layout.NCHW):
        super().__init__()
        self.layout = Layout(layout)
        self.scale = nn.Parameter(torch.linspace(-1.0, 1.0, channels))

    def forward(self, x):
        m = x.mean(self.layout.spatial_axes) * self.scale
        g = m[:, :, None, None] if self.layout is Layout.NCHW else m[:, None, None, :]
        return x * torch.sigmoid(g)


def setup():
    register("meangate", MeanGate, "third-party plugin: x * sigmoid(scale * mean(x))",
             uses_ratio=False)
'''


def _install(site: Path) -> None:
    """What ``pip install`` of a package declaring the entry point leaves on sys.path."""
    (site / "tinyattn").mkdir(parents=True)
    (site / "tinyattn" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "tinyattn-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyattn\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[chanattn_export.models]\nmeangate = tinyattn:setup\n")


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    return subprocess.run([sys.executable, "-m", "chanattn_export", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_entry_point_block_is_listed_exported_and_verified(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install(site)
    p = _run(site, "list")
    assert p.returncode == 0, p.stderr
    assert "meangate" in p.stdout and "third-party plugin" in p.stdout
    out = tmp_path / "art"
    for fmt, layout in (("onnx", "nchw"), ("torchscript", "nhwc")):
        p = _run(site, fmt, "--model", "meangate", "--channels", "8", "--height", "5",
                 "--width", "6", "--layout", layout, "--dynamic-hw", "--out", str(out))
        assert p.returncode == 0, p.stderr
    entries = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert len(entries) == 2 and all(e["status"] == "passed" for e in entries)
    assert _run(site, "verify", str(out)).returncode == 0
    # without the plugin installed, the model is unknown (one line, exit 2)
    p = subprocess.run([sys.executable, "-m", "chanattn_export", "onnx", "--model", "meangate"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "unknown model 'meangate'" in p.stderr


def test_broken_plugin_is_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install(site)
    (site / "tinyattn" / "__init__.py").write_text("raise RuntimeError('boom')\n")
    p = _run(site, "list")
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1
    assert "plugin 'meangate'" in p.stderr and "boom" in p.stderr
