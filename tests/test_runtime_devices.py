"""State a user set is put back: TF32 flags and torch's thread count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chanattn_export.registry import create_model
from chanattn_export.runtime import EagerRunner, tf32_disabled, torch_threads


@pytest.fixture
def tf32_on():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_tf32_off_inside_and_restored_after(tf32_on) -> None:
    with tf32_disabled():
        assert not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_tf32_restored_after_an_error(tf32_on) -> None:
    with pytest.raises(RuntimeError), tf32_disabled():
        raise RuntimeError("boom")
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_a_parity_runner_leaves_tf32_alone(tf32_on) -> None:
    runner = EagerRunner(create_model("se", channels=8), "cpu")
    runner.infer(np.zeros((1, 8, 4, 4), np.float32))
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_torch_threads_restored() -> None:
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
