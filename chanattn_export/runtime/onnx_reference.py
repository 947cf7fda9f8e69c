"""``onnx.reference`` as a runner: the ONNX specification's own Python implementation.

A second opinion that is not an optimised runtime: where onnxruntime and the reference agree,
the file computes what the spec says, not what one runtime happens to do. It is slow (NumPy,
and Python loops in MaxPool and Conv: about 0.6 s for one 3x56x56x64 NHWC ``cbam-channel``),
so by default it joins parity only for inputs up to :data:`DEFAULT_MAX_ELEMENTS` elements
(docs/runtimes.md); named in ``--runtimes`` it runs on every input.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import RuntimeFailedError, RuntimeMissingError
from ..fileio.onnx_wire import refuse_external_data
from .names import Runtime
from .validation import Expected, check_input

NAME = Runtime.REFERENCE.runner  # "onnx-reference-cpu"
#: The largest parity input (elements) the default parity runs the reference on: 2**16 floats
#: (256 KiB) keep a 15-case parity under about a second for the slowest graphs measured.
DEFAULT_MAX_ELEMENTS = 1 << 16


class ReferenceRunner:
    """``infer(x) -> y`` through ``onnx.reference.ReferenceEvaluator``.

    ``max_elements``: the default parity's size bound (None: no bound); parity leaves this
    runner out when its largest input is bigger (see ``check.parity.measure_usable``).
    """

    name = NAME

    def __init__(self, data: bytes, expected: Expected | None = None, *,
                 max_elements: int | None = None, requested: bool = False) -> None:
        try:
            import onnx
            from onnx.reference import ReferenceEvaluator
        except ImportError:
            raise RuntimeMissingError(NAME, "onnx is not installed (pip install onnx)",
                                      requested) from None
        refuse_external_data(data)  # never read files beside the process
        from ..errors import first_line

        try:
            self.session = ReferenceEvaluator(onnx.load_from_string(data))
        except Exception as e:  # the file's problem in this runtime: a failed check
            raise RuntimeFailedError(NAME, f"cannot load the model: {first_line(e)}") from None
        self.input_name = self.session.input_names[0]
        self.expected, self.max_elements = expected, max_elements

    def infer(self, x: np.ndarray) -> np.ndarray:
        from ..errors import first_line

        check_input(x, self.expected)
        try:  # NumPy's overflow warnings (exp of a saturated sigmoid) are not news here
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = self.session.run(None, {self.input_name: x})[0]
        except Exception as e:  # whatever the spec's implementation raises on this input
            raise RuntimeFailedError(NAME, f"on input {list(x.shape)}: {first_line(e)}") from None
        return np.asarray(y)


__all__ = ["DEFAULT_MAX_ELEMENTS", "NAME", "ReferenceRunner"]
