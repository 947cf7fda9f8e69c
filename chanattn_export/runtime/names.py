"""The ONNX runtimes parity can judge a file in (``--runtimes``; docs/runtimes.md), by name.

A leaf of ``runtime/`` (spec.py, where the other names live, is at its size limit): the CLI
and the checks pass these names as strings; the runners and ``select`` use this enum.
"""

from __future__ import annotations

from ..spec import Device, StrEnum


class Runtime(StrEnum):
    """An ONNX runtime that parity judges a file in; each runs on the CPU as the runner
    :attr:`runner` (onnxruntime also on CUDA, by ``--devices``)."""

    ONNXRUNTIME = "onnxruntime"
    REFERENCE = "reference"  # onnx.reference.ReferenceEvaluator: the spec's own implementation
    OPENVINO = "openvino"  # CPU plugin, float32 precision (optional extra: [openvino])

    @property
    def runner(self) -> str:
        """The runner name on the CPU, e.g. ``onnx-reference-cpu``."""
        name = "onnx-reference" if self is Runtime.REFERENCE else self.value
        return f"{name}-{Device.CPU.value}"


__all__ = ["Runtime"]
