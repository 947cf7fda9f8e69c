"""The float32 ONNX file converted to float16, for onnxruntime on CUDA.

The toolkit exports float32 files; the float16 benchmark converts weights, inputs and outputs
with onnxruntime's own converter rather than exporting a second graph. It is used on CUDA only:
onnxruntime's CPU kernels have no float16 path for these ops (docs/benchmarks.md, "Why the
timing rules").
"""

from __future__ import annotations

from ..errors import MissingDependencyError


def to_float16(onnx_bytes: bytes) -> bytes:
    """The float32 ONNX file converted to float16 weights, inputs and outputs."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as e:
        raise MissingDependencyError(f"float16 conversion needs onnx and onnxruntime: {e}") \
            from None
    model = convert_float_to_float16(onnx.load_from_string(onnx_bytes), keep_io_types=False,
                                     disable_shape_infer=True)
    return model.SerializeToString()


__all__ = ["to_float16"]
