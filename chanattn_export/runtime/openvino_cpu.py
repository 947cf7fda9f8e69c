"""OpenVINO's CPU plugin as a runner, in float32.

OpenVINO runs float32 ONNX models in bfloat16 by default on CPUs with AVX512-BF16 (about 1e-3
off on unit inputs), which would fail every parity check for the runtime's choice, not the
file's: ``INFERENCE_PRECISION_HINT`` is set to ``f32`` (agrees with onnxruntime to about
2.4e-7, docs/design-notes.md). ``threads`` sets ``INFERENCE_NUM_THREADS``; one thread is where
OpenVINO 2026.4 once returned an empty tensor instead of refusing (docs/runtimes.md).
OpenVINO is optional: ``pip install 'chanattn_export[openvino]'``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import RuntimeFailedError, RuntimeMissingError, first_line
from ..fileio.onnx_wire import refuse_external_data
from .names import Runtime
from .validation import Expected, check_input

NAME = Runtime.OPENVINO.runner  # "openvino-cpu"
PRECISION = {"INFERENCE_PRECISION_HINT": "f32"}


@functools.lru_cache(maxsize=1)
def _core() -> Any:
    """One ``openvino.Core`` per process (creating one loads the plugins)."""
    import openvino

    return openvino.Core()


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVINORunner:
    """``infer(x) -> y`` through an OpenVINO CPU ``CompiledModel`` (float32)."""

    name = NAME

    def __init__(self, data: bytes, expected: Expected | None = None, *,
                 threads: int | None = None, requested: bool = False) -> None:
        if not openvino_available():
            raise RuntimeMissingError(NAME, "openvino is not installed (pip install "
                                      "'chanattn_export[openvino]')", requested)
        refuse_external_data(data)  # never read files beside the process
        config: dict[str, Any] = dict(PRECISION)
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            core = _core()
            self.compiled = core.compile_model(core.read_model(data, b""), "CPU", config)
        except Exception as e:  # refused by OpenVINO: the file's problem in this runtime
            raise RuntimeFailedError(NAME, f"cannot compile the model: {why(e)}") from None
        self.expected, self.threads = expected, threads

    def infer(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self.expected)
        try:
            y = self.compiled(x)[0]
        except Exception as e:  # OpenVINO's own error types
            raise RuntimeFailedError(NAME, f"on input {list(x.shape)}: {why(e)}") from None
        return np.array(y, copy=True)  # its buffers are reused by the next call


_NOISE = ("Exception from ", "Check ", "While validating", "[CPU]")


def why(e: BaseException) -> str:
    """OpenVINO's message in one line: its first line is only a source location ("Exception
    from src/inference/..."), so take the first line that says something, plus the summary
    of a failed conversion ("Conversion is failed for: MaxPool-18")."""
    lines = [t.strip().lstrip("-").strip() for t in str(e).splitlines() if t.strip()]
    said = [t for t in lines if not t.startswith(_NOISE) and not t.endswith(":")]
    if not said:
        return first_line(e)
    summary = [t for t in said[1:] if t.startswith("Conversion is failed for")]
    return "; ".join([said[0], *summary])[:300]


__all__ = ["NAME", "PRECISION", "OpenVINORunner", "openvino_available", "why"]
