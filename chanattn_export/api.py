"""The public Python API: one function per export format, plus parity re-checks.

Defaults live in the spec dataclasses (``spec.DEFAULT_*``); these functions only name them.
Each export function takes a registered model's name, or a whole ``nn.Module`` with
``input_shape=`` (and ``name=``): either way it becomes an :class:`~.export.subject.Subject`
and takes the one export road (:func:`.pipeline.export_subject`).
"""

from __future__ import annotations

import os
from typing import Any

from .check.recheck import EntryCheck
from .check.settings import CheckSettings, Devices
from .errors import InvalidSpecError
from .export.subject import Subject
from .pipeline import ExportResult, Progress, export_subject, recheck_folder
from .registry import check_input, hidden_from_weights, make_spec
from .runtime.select import require_devices
from .spec import (
    DEFAULT_CHANNELS,
    DEFAULT_OPSET,
    DEFAULT_SIZE,
    Exporter,
    ExportSpec,
    Format,
    InputSpec,
    Layout,
    Precision,
    Tolerance,
)


def make_export_spec(model: str = "cbam-channel", *, fmt: Format | str = Format.ONNX,
                     channels: int = DEFAULT_CHANNELS, ratio: int | None = None,
                     layout: Layout | str = Layout.NCHW, batch: int = 1,
                     height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE,
                     dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                     exporter: Exporter | str = Exporter.AUTO, hidden: int | None = None,
                     preset: str = "default",
                     weights: str | os.PathLike[str] | None = None,
                     precision: Precision | str = Precision.FP32,
                     fp16_io: bool = False) -> ExportSpec:
    """Validated :class:`ExportSpec`; raises :class:`InvalidSpecError` naming the bad value.

    With ``weights`` (a file) and no ``hidden``, the hidden width comes from the file's shapes.
    """
    model_spec = make_spec(model, channels, ratio, layout, hidden=hidden, preset=preset)
    if weights is not None:
        from .models.weights import read_state_dict

        model_spec = hidden_from_weights(model_spec, read_state_dict(weights))
    spec = ExportSpec(
        model=model_spec,
        input=InputSpec(batch=batch, height=height, width=width, dynamic_hw=dynamic_hw),
        format=fmt, opset=opset, exporter=exporter, precision=precision, fp16_io=fp16_io,
    )
    check_input(spec.model, spec.input)
    return spec


def tolerance(atol: float | None = None, rtol: float | None = None) -> Tolerance:
    """:class:`Tolerance` with the given values, the defaults for the rest."""
    return Tolerance(**{k: v for k, v in (("atol", atol), ("rtol", rtol)) if v is not None})


def precision_tolerance(atol: float | None, rtol: float | None,
                        precision: Precision | str) -> Tolerance:
    """The tolerance a user asked for, the rest from ``precision``'s own defaults."""
    from .check.reduced import default_tolerance

    base = default_tolerance(Precision.parse(precision, "precision"))  # type: ignore[arg-type]
    return Tolerance(base.atol if atol is None else atol, base.rtol if rtol is None else rtol)


def _reduced(args: dict[str, Any]) -> Any:
    """The fp16/int8 options of an ONNX export (None for fp32 or another format)."""
    if Precision.parse(args.get("precision", "fp32"), "precision") is Precision.FP32:
        if args.get("calibration") is not None or args.get("fp16_io"):
            raise InvalidSpecError("calibration= and fp16_io= are for precision fp16/int8")
        return None
    from .pipeline.precision import ReducedOptions

    return ReducedOptions(args.get("calibration"), args.get("int8_recipe") or "auto")


# What describes a registered block, with its default: meaningless for a whole network.
_BLOCK_ONLY = {"channels": DEFAULT_CHANNELS, "ratio": None, "batch": 1, "height": DEFAULT_SIZE,
               "width": DEFAULT_SIZE, "hidden": None, "preset": "default", "weights": None,
               "seed": 0}


def _subject(fmt: Format, args: dict[str, Any]) -> Subject:
    """The module to export: a registered block built from its spec, or the user's network."""
    from .export.subject import block_subject

    if not _is_module(args["model"]):
        _block_only(args)
        spec = make_export_spec(
            args["model"], fmt=fmt, channels=args["channels"], ratio=args["ratio"],
            layout=args["layout"], batch=args["batch"], height=args["height"],
            width=args["width"], dynamic_hw=args["dynamic_hw"],
            opset=args.get("opset", DEFAULT_OPSET), exporter=args.get("exporter", Exporter.AUTO),
            hidden=args["hidden"], preset=args["preset"], weights=args["weights"])
        require_devices(spec.format, args["devices"])  # an absent GPU: before any work
        return block_subject(spec, args["weights"], args["seed"])
    from .network.spec import network_subject

    extra = [k for k, default in _BLOCK_ONLY.items() if args.get(k, default) != default]
    if extra:
        raise InvalidSpecError(f"{', '.join(extra)} describe a registered block; a network "
                               "takes input_shape= (its weights are its own)")
    if args["input_shape"] is None:
        raise InvalidSpecError("exporting a network needs input_shape=, e.g. (1, 3, 224, 224) "
                               "in the layout's order")
    require_devices(Format.parse(fmt, "format"), args["devices"])
    return network_subject(
        args["model"], fmt, input_shape=args["input_shape"], layout=args["layout"],
        name=args["name"], dynamic_hw=args["dynamic_hw"],
        opset=args.get("opset", DEFAULT_OPSET), exporter=args.get("exporter", Exporter.AUTO))


def _export(fmt: Format, args: dict[str, Any]) -> ExportResult:
    """The one body behind ``export_onnx``/``export_torchscript``/``export_pt2`` (``args`` is
    the caller's ``locals()``): build the subject, then the one export road."""
    from dataclasses import replace

    reduced, precision = _reduced(args), args.get("precision", Precision.FP32)
    subject = _subject(fmt, args)
    if reduced is not None:  # the spec names the precision: file name, checks, record
        subject = replace(subject, spec=replace(subject.spec, precision=precision,
                                                fp16_io=args.get("fp16_io", False)))
    settings = CheckSettings(precision_tolerance(args["atol"], args["rtol"], precision),
                             0, args["devices"], args.get("runtimes"))
    return export_subject(subject, args["out"], settings, progress=args["progress"],
                          keep_failed=args["keep_failed"], reduced=reduced)


def _block_only(args: dict[str, Any]) -> None:
    if not isinstance(args["model"], str):
        raise InvalidSpecError("model must be a registered model name or a torch.nn.Module; "
                               f"got {type(args['model']).__name__}")
    if args["input_shape"] is not None or args["name"] is not None:
        raise InvalidSpecError("input_shape= and name= are for a network (an nn.Module); a "
                               "registered model takes channels=, height= and width=")


def _is_module(model: object) -> bool:
    if isinstance(model, str):
        return False
    from torch import nn

    return isinstance(model, nn.Module)


def export_onnx(model: Any = "cbam-channel", *, channels: int = DEFAULT_CHANNELS,
                ratio: int | None = None, layout: Layout | str = Layout.NCHW, batch: int = 1,
                height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE, dynamic_hw: bool = False,
                opset: int = DEFAULT_OPSET, exporter: Exporter | str = Exporter.AUTO,
                hidden: int | None = None, preset: str = "default",
                weights: str | os.PathLike[str] | None = None, seed: int = 0,
                out: str | os.PathLike[str] = "artifacts", atol: float | None = None,
                rtol: float | None = None, progress: Progress | None = None,
                devices: Devices = None,
                keep_failed: bool = False, input_shape: Any = None,
                name: str | None = None, precision: Precision | str = Precision.FP32,
                calibration: str | os.PathLike[str] | None = None, fp16_io: bool = False,
                int8_recipe: str = "auto", runtimes: Devices = None) -> ExportResult:
    """Export to ONNX, check parity against eager PyTorch, and record it in ``out``.

    ``precision`` ``"fp16"`` or ``"int8"`` converts the file and judges it on the same cases
    at that precision's bounds (docs/precision.md); ``calibration`` is a folder of ``.npy``
    files or a Polygraphy JSON inputs file (default: the parity generator's inputs),
    ``fp16_io`` makes an fp16 file take and return float16, ``int8_recipe`` is ``auto``,
    ``quantize``, ``gate-float`` or ``gate-pinned``.

    ``devices`` (``"cpu"``, ``"cpu,cuda"``, ...) says where parity runs; the default is the
    CPU plus CUDA where detected, and an unusable CUDA backend is recorded as skipped.
    ``runtimes`` (``"onnxruntime,reference,openvino"``) says which ONNX runtimes judge the
    file; the default is onnxruntime, plus onnx.reference for small inputs (docs/runtimes.md).

    The result's ``parity.passed`` says whether the file computes the eager function; a failed
    artifact is not written (``written`` is False), or with ``keep_failed`` it is written under
    ``out/failed/`` with its record, never beside the passing artifacts.

    ``model`` may also be a whole ``nn.Module`` (after ``swap_attention``, say), with
    ``input_shape`` in ``layout``'s order and ``name`` for its files: it is judged against its
    own eager outputs, which the folder keeps so that ``verify`` needs none of its code.
    """
    return _export(Format.ONNX, locals())


def export_torchscript(model: Any = "cbam-channel", *, channels: int = DEFAULT_CHANNELS,
                       ratio: int | None = None, layout: Layout | str = Layout.NCHW,
                       batch: int = 1, height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE,
                       dynamic_hw: bool = False, hidden: int | None = None,
                       preset: str = "default",
                       weights: str | os.PathLike[str] | None = None, seed: int = 0,
                       out: str | os.PathLike[str] = "artifacts", atol: float | None = None,
                       rtol: float | None = None, progress: Progress | None = None,
                       devices: Devices = None,
                       keep_failed: bool = False, input_shape: Any = None,
                       name: str | None = None) -> ExportResult:
    """Trace, freeze and save a TorchScript module; check parity; record it in ``out``."""
    return _export(Format.TORCHSCRIPT, locals())


def export_pt2(model: Any = "cbam-channel", *, channels: int = DEFAULT_CHANNELS,
               ratio: int | None = None, layout: Layout | str = Layout.NCHW,
               batch: int = 1, height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE,
               dynamic_hw: bool = False, hidden: int | None = None, preset: str = "default",
               weights: str | os.PathLike[str] | None = None,
               seed: int = 0, out: str | os.PathLike[str] = "artifacts",
               atol: float | None = None, rtol: float | None = None,
               progress: Progress | None = None, devices: Devices = None,
               keep_failed: bool = False, input_shape: Any = None,
               name: str | None = None) -> ExportResult:
    """Export a torch.export program (``.pt2``); check parity (on the CPU: programs are not
    checked on CUDA yet, whatever ``devices`` says); record it in ``out``."""
    return _export(Format.PT2, locals())


def check_parity(out: str | os.PathLike[str] = "artifacts", *, atol: float | None = None,
                 rtol: float | None = None,
                 progress: Progress | None = None, devices: Devices = None,
                 trust_torchscript: bool = False, localize: bool = False,
                 runtimes: Devices = None) -> list[EntryCheck]:
    """Re-run parity for every artifact in ``out`` from its manifest and weights files (ONNX
    files in ``runtimes``, as :func:`export_onnx` says).

    TorchScript files are programs: loaded only with ``trust_torchscript`` (docs/trust.md).
    ``localize``: name the first diverging node of each failed ONNX block (``.localized``)."""
    return recheck_folder(out, tolerance=tolerance(atol, rtol), progress=progress,
                          devices=devices, trust_torchscript=trust_torchscript,
                          localize=localize, runtimes=runtimes)
