"""Frozen, validated descriptions of what to build and export.

Nothing here imports torch: specs are plain data that the CLI, the manifest and the serving
code share. Validation happens at construction so a bad value never reaches a backend.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .errors import InvalidSpecError


class StrEnum(str, Enum):
    """``enum.StrEnum`` for Python 3.10."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def parse(cls, value: object, what: str) -> StrEnum:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise InvalidSpecError(f"{what} must be one of {valid}; got {value!r}") from None


class Layout(StrEnum):
    """Tensor layout; the one place that knows which axis holds what."""

    NCHW = "nchw"
    NHWC = "nhwc"

    @property
    def channel_axis(self) -> int:
        return 3 if self is Layout.NHWC else 1

    @property
    def spatial_axes(self) -> tuple[int, int]:
        return (1, 2) if self is Layout.NHWC else (2, 3)

    @property
    def axis_names(self) -> tuple[str, str, str, str]:
        return ("N", "H", "W", "C") if self is Layout.NHWC else ("N", "C", "H", "W")

    @property
    def other(self) -> Layout:
        return Layout.NCHW if self is Layout.NHWC else Layout.NHWC

    def shape(self, n: int, c: int, h: int, w: int) -> tuple[int, int, int, int]:
        """``(N, C, H, W)`` values placed in this layout's order."""
        return (n, h, w, c) if self is Layout.NHWC else (n, c, h, w)

    def pooled_shape(self, n: int, c: int) -> tuple[int, int, int, int]:
        """Shape of a per-channel gate that broadcasts against an input of this layout."""
        return self.shape(n, c, 1, 1)


class Device(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"


class Backend(StrEnum):
    """What executes a model. A runner's name is ``f"{backend}-{device}"``."""

    EAGER = "eager"
    TORCHSCRIPT = "torchscript"
    TORCH_EXPORT = "torch-export"  # a saved torch.export program (.pt2); CPU only
    ONNXRUNTIME = "onnxruntime"
    COMPILE = "compile"  # torch.compile (inductor); bench only, opt-in

    def on(self, device: Device | str) -> str:
        """The runner name on ``device``, e.g. ``onnxruntime-cpu``."""
        return f"{self.value}-{Device.parse(device, 'device').value}"


class DType(StrEnum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"

    @property
    def itemsize(self) -> int:
        return 4 if self is DType.FLOAT32 else 2


class Format(StrEnum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    PT2 = "pt2"  # a torch.export program (torch.export.save), TorchScript's successor

    @property
    def suffix(self) -> str:
        return {Format.ONNX: ".onnx", Format.TORCHSCRIPT: ".pt", Format.PT2: ".pt2"}[self]


class Precision(StrEnum):
    """An ONNX file's number format (docs/precision.md); the file name says all but fp32."""

    FP32, FP16, INT8 = "fp32", "fp16", "int8"


class Exporter(StrEnum):
    """Which torch.onnx path builds the graph."""

    AUTO = "auto"  # dynamo, falling back to legacy when dynamo fails on this torch
    DYNAMO = "dynamo"  # torch.export-based
    LEGACY = "legacy"  # TorchScript-based (deprecated upstream)


DEFAULT_OPSET = 18
DEFAULT_CHANNELS = 64
DEFAULT_RATIO = 16  # shrunk to C for blocks narrower than 16 (registry.make_spec)
DEFAULT_SIZE = 56  # height and width of the example input
DEFAULT_ATOL, DEFAULT_RTOL = 1e-5, 1e-4  # why these: docs/design-notes.md
INPUT_NAME, OUTPUT_NAME = "input", "output"  # the graph's tensor names, in every format


def check_int(value: object, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as int, or raise naming the parameter and its valid range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidSpecError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f"{maximum}" if maximum is not None else "inf"
        raise InvalidSpecError(f"{name} must be in [{minimum}, {upper}]; got {value}")
    return value


def check_float(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidSpecError(f"{name} must be a finite number >= 0; got {value!r}")
    if value < 0:
        raise InvalidSpecError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


PRESETS = ("default", "timm")  # default: the paper / official code; timm: timm.layers' module


@dataclass(frozen=True)
class ModelSpec:
    """Which block to build. ``ratio`` is None for models without a reduction (ECA).

    ``hidden`` sets the bottleneck width directly (timm's ``rd_channels``), overriding what
    ``ratio`` and the preset's rounding would give; ``preset`` picks whose defaults to follow.
    """

    name: str
    channels: int = DEFAULT_CHANNELS
    ratio: int | None = DEFAULT_RATIO
    layout: Layout = Layout.NCHW
    hidden: int | None = None
    preset: str = "default"

    def __post_init__(self) -> None:
        channels = check_int(self.channels, "channels", 1, 1 << 16)
        object.__setattr__(self, "channels", channels)
        if self.ratio is not None:
            ratio = check_int(self.ratio, "ratio", 1)
            if ratio > channels:
                raise InvalidSpecError(
                    f"ratio must be in [1, channels={channels}]; got {ratio} "
                    f"(channels // ratio = {channels // ratio} would build a zero-width MLP)"
                )
            object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "layout", Layout.parse(self.layout, "layout"))
        if self.hidden is not None:
            object.__setattr__(self, "hidden", check_int(self.hidden, "hidden", 1, 1 << 16))
        if self.preset not in PRESETS:
            raise InvalidSpecError(f"preset must be one of {', '.join(PRESETS)}; "
                                   f"got {self.preset!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "channels": self.channels, "ratio": self.ratio,
                "layout": str(self.layout), "hidden": self.hidden, "preset": self.preset}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Also reads manifests written before ``hidden`` and ``preset`` existed."""
        return cls(name=d["name"], channels=d["channels"], ratio=d.get("ratio"),
                   layout=Layout.parse(d.get("layout", "nchw"), "layout"),
                   hidden=d.get("hidden"), preset=d.get("preset") or "default")

    @property
    def stem(self) -> str:
        """File-name stem that tells artifacts of different specs apart."""
        r = f"-r{self.ratio}" if self.ratio is not None else ""
        h = f"-h{self.hidden}" if self.hidden is not None else ""
        p = f"-{self.preset}" if self.preset != "default" else ""
        return f"{self.name}{p}-{self.layout}-c{self.channels}{r}{h}"


@dataclass(frozen=True)
class InputSpec:
    """The example input used to trace, and which of its dims stay dynamic."""

    batch: int = 1
    height: int = DEFAULT_SIZE
    width: int = DEFAULT_SIZE
    dynamic_batch: bool = True
    dynamic_hw: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch", check_int(self.batch, "batch", 1, 4096))
        object.__setattr__(self, "height", check_int(self.height, "height", 1, 8192))
        object.__setattr__(self, "width", check_int(self.width, "width", 1, 8192))

    def shape(self, layout: Layout, channels: int, batch: int | None = None,
              height: int | None = None, width: int | None = None) -> tuple[int, int, int, int]:
        n = self.batch if batch is None else batch
        h = self.height if height is None else height
        w = self.width if width is None else width
        return Layout(layout).shape(n, channels, h, w)

    def dims(self, layout: Layout, channels: int) -> list[int | str]:
        """Shape with symbolic names where a dim is dynamic, as written into the manifest."""
        n: int | str = "batch" if self.dynamic_batch else self.batch
        h: int | str = "height" if self.dynamic_hw else self.height
        w: int | str = "width" if self.dynamic_hw else self.width
        return list(Layout(layout).shape(n, channels, h, w))  # type: ignore[arg-type]

    def dynamic_axes(self, layout: Layout) -> dict[int, str]:
        """Axis index -> symbolic name for every dynamic dim (what the exporters mark)."""
        axes: dict[int, str] = {}
        if self.dynamic_batch:
            axes[0] = "batch"
        if self.dynamic_hw:
            h, w = Layout(layout).spatial_axes
            axes[h], axes[w] = "height", "width"
        return axes

    @property
    def trace_batch(self) -> int:
        """torch.export specialises a batch of 1; trace with >= 2 when the batch is dynamic."""
        return max(self.batch, 2) if self.dynamic_batch else self.batch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        return cls(**{k: d[k] for k in ("batch", "height", "width", "dynamic_batch",
                                         "dynamic_hw") if k in d})


@dataclass(frozen=True)
class Tolerance:
    """The parity bound, elementwise: ``|a - e| <= atol * max(1, max|x|) + rtol * |e|``.

    atol is per unit of the input's magnitude: these blocks scale with ``x`` and so does the
    rounding of their sums (docs/design-notes.md).
    """

    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL

    def __post_init__(self) -> None:
        object.__setattr__(self, "atol", check_float(self.atol, "atol"))
        object.__setattr__(self, "rtol", check_float(self.rtol, "rtol"))


@dataclass(frozen=True)
class ExportSpec:
    """Everything that determines one exported file."""

    model: ModelSpec
    input: InputSpec = field(default_factory=InputSpec)
    format: Format = Format.ONNX
    opset: int = DEFAULT_OPSET
    exporter: Exporter = Exporter.AUTO
    precision: Precision = Precision.FP32  # fp16 and int8: ONNX only
    fp16_io: bool = False  # fp16: the graph takes and returns float16 (default: float32)

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", Format.parse(self.format, "format"))
        object.__setattr__(self, "exporter", Exporter.parse(self.exporter, "exporter"))
        object.__setattr__(self, "opset", check_int(self.opset, "opset", 7, 99))
        object.__setattr__(self, "precision", Precision.parse(self.precision, "precision"))
        if self.precision is not Precision.FP32 and self.format is not Format.ONNX:
            raise InvalidSpecError(f"precision {self.precision} is for ONNX files only")
        if self.fp16_io and self.precision is not Precision.FP16:
            raise InvalidSpecError("fp16 I/O is for precision fp16 only")

    @property
    def filename(self) -> str:
        hw = "dynhw" if self.input.dynamic_hw else f"{self.input.height}x{self.input.width}"
        p = "" if self.precision is Precision.FP32 else f"-{self.precision}"
        return f"{self.model.stem}-{hw}{p}{self.format.suffix}"
