"""Random weights for tests that compare a block with a reference: every float parameter and
buffer drawn from N(0, 0.5^2), running variances kept positive (|r| + 0.5), so biases and
BatchNorm statistics all matter."""

from __future__ import annotations

import torch


def randomize_(module: torch.nn.Module, seed: int,
               keep: tuple[str, ...] = ()) -> torch.nn.Module:
    """Fill ``module``'s state in place (keys starting with a ``keep`` prefix untouched)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in module.state_dict().items():
            if t.is_floating_point() and not (keep and key.startswith(keep)):
                r = torch.randn(t.shape, generator=g) * 0.5
                t.copy_(r.abs() + 0.5 if key.endswith("running_var") else r)
    return module
