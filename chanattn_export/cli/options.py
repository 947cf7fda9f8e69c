"""Option groups shared by several commands (model, input, export, parity, devices, trust)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..spec import (
    DEFAULT_ATOL,
    DEFAULT_CHANNELS,
    DEFAULT_OPSET,
    DEFAULT_RTOL,
    DEFAULT_SIZE,
    PRESETS,
    Exporter,
    Layout,
)

RATIO_HELP = "MLP reduction ratio %(ratio_models)s"


def ratio_help() -> str:
    """Each model's default ratio and the models that refuse ``--ratio``, read from the registry
    when the help is shown (building the parser stays torch-free)."""
    try:
        from ..registry import list_models

        models = list_models()
    except Exception:  # no torch here (a deployment host): the registry cannot load
        return "(the models without a reduction MLP refuse it: see the list command)"
    by_default: dict[int, list[str]] = {}
    for m in models:
        if m.uses_ratio:
            by_default.setdefault(m.default_ratio, []).append(m.name)
    common = max(by_default, key=lambda r: len(by_default[r]), default=16)
    others = "; ".join(f"{', '.join(names)}: {r}" for r, names in by_default.items()
                       if r != common)
    free = ", ".join(m.name for m in models if not m.uses_ratio) or "none"
    return (f"(default {common}{'; ' + others if others else ''}; never more than C); the "
            f"models without a reduction MLP refuse it (all passes it to the others only): "
            f"{free}")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, filling ``%(ratio_models)s`` in a help text only when shown."""

    def _expand_help(self, action: argparse.Action) -> str:
        if action.help and "%(ratio_models)s" in action.help:
            action.help = action.help.replace("%(ratio_models)s", ratio_help())
        return super()._expand_help(action)


def model_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("model")
    g.add_argument("--channels", type=int, default=DEFAULT_CHANNELS,
                   help=f"input channels C (default {DEFAULT_CHANNELS})")
    g.add_argument("--ratio", type=int, default=None, help=RATIO_HELP)
    g.add_argument("--layout", choices=[m.value for m in Layout], default="nchw",
                   help="tensor layout of input and output (default nchw)")
    g.add_argument("--preset", choices=list(PRESETS), default="default",
                   help="whose defaults: the paper's (default) or timm's module (timm)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the random weights when --weights is not given (default 0)")
    g = p.add_argument_group("input")
    g.add_argument("--batch", type=int, default=1, help="example batch size (default 1)")
    g.add_argument("--height", type=int, default=DEFAULT_SIZE,
                   help=f"input height (default {DEFAULT_SIZE})")
    g.add_argument("--width", type=int, default=DEFAULT_SIZE,
                   help=f"input width (default {DEFAULT_SIZE})")
    g.add_argument("--dynamic-hw", action="store_true",
                   help="make height and width dynamic (the batch always is)")
    g = p.add_argument_group("export")
    g.add_argument("--out", type=Path, default=Path("artifacts"),
                   help="output folder (default ./artifacts)")
    g.add_argument("--keep-failed", action="store_true",
                   help="keep an export that fails parity under OUT/failed/ (default: not "
                   "written; it never lands beside the passing artifacts)")
    tolerance_options(p)
    devices_option(p)
    verbose_option(p)
    return p


def onnx_options() -> argparse.ArgumentParser:
    """Options only the ONNX exporter reads: offered by ``onnx`` and ``all``, not by
    ``torchscript`` and ``pt2`` (an option a command ignores is not offered)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("ONNX")
    g.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset (default {DEFAULT_OPSET})")
    g.add_argument("--exporter", choices=[m.value for m in Exporter], default="auto",
                   help="ONNX exporter: auto = dynamo (torch.export), legacy if that fails")
    return p


class _NotForThisFormat(argparse.Action):
    """An ONNX-only option given to ``torchscript`` or ``pt2``: refused, not ignored."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        parser.error(f"{option_string} is an ONNX option (commands onnx and all); "
                     f"{parser.prog.split()[-1]} does not use it")


ONNX_ONLY = ("--opset", "--exporter", "--precision", "--calibration", "--fp16-io",
             "--int8-recipe", "--runtimes", "--save-test-data")


def refuse_onnx_options(p: argparse.ArgumentParser) -> None:
    """The ONNX exporter's options on a non-ONNX export: hidden from --help, and an error."""
    for flag in ONNX_ONLY:
        p.add_argument(flag, action=_NotForThisFormat, nargs="?", help=argparse.SUPPRESS)


def precision_options(p: argparse.ArgumentParser) -> None:
    """``--precision`` and what an fp16 or int8 file is made from (docs/precision.md)."""
    g = p.add_argument_group("precision (ONNX)")
    g.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32",
                   help="number format of the ONNX file (default fp32); fp16 and int8 files "
                   "are judged on the same cases at their own bounds")
    g.add_argument("--calibration", metavar="PATH", type=Path, default=None,
                   help="calibration data: a folder of .npy files or a Polygraphy JSON inputs "
                   "file (default: the parity generator's inputs)")
    g.add_argument("--fp16-io", action="store_true",
                   help="fp16: the file takes and returns float16 (default: float32 I/O)")
    g.add_argument("--int8-recipe", choices=["auto", "quantize", "gate-float", "gate-pinned"],
                   default="auto", help="how int8 treats attention gates (default auto: the "
                   "best on the calibration data)")


def network_options(p: argparse.ArgumentParser) -> None:
    """A whole user network instead of a registered block (see :mod:`..network.load`)."""
    g = p.add_argument_group("your own network (instead of --model)")
    g.add_argument("--network", metavar="REF", default=None,
                   help="package.module:attr or path/to/file.py:attr naming an nn.Module, or a "
                   "function returning one (imported and run: your code, your weights)")
    g.add_argument("--input-shape", metavar="N,C,H,W", type=_shape, default=None,
                   help="the network's input shape, in --layout's order (replaces --batch, "
                   "--channels, --height, --width)")
    g.add_argument("--name", default=None,
                   help="names the files (default: the network's class name)")


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as "
                                         f"1,3,224,224; got {text!r}") from None


def devices_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--devices", default=None,
                   help="comma-separated devices parity runs on: cpu, cuda (default: cpu, plus "
                   "cuda when present; an unusable GPU is then reported and skipped)")


def runtimes_option(p: argparse.ArgumentParser) -> None:
    """Which ONNX runtimes judge an ONNX file (docs/runtimes.md); TorchScript files ignore it."""
    p.add_argument("--runtimes", default=None, metavar="A,B", type=_runtimes,
                   help="comma-separated ONNX runtimes parity runs ONNX files in: onnxruntime, "
                   "reference (onnx.reference), openvino (CPU, float32; the [openvino] extra). "
                   "Default: onnxruntime, plus reference for inputs up to 2**16 elements; one "
                   "named here and not installed is a SKIP that fails the command")


def _runtimes(text: str) -> str:
    """Checked while parsing: a misspelt runtime is refused before any export work."""
    from ..errors import InvalidSpecError
    from ..runtime.select import parse_runtimes

    try:
        parse_runtimes(text)
    except InvalidSpecError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def verbose_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true",
                   help="show the exporters' full messages (e.g. why dynamo failed before the "
                   "legacy exporter took over), not just their first line")


def tolerance_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parity")
    g.add_argument("--atol", type=float, default=None,
                   help=f"absolute tolerance per unit of max|x| (default {DEFAULT_ATOL:g})")
    g.add_argument("--rtol", type=float, default=None,
                   help=f"relative tolerance (default {DEFAULT_RTOL:g})")


def reference_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save-reference", type=Path, default=None, metavar="DIR",
                   help="write the parity inputs and eager outputs in Polygraphy's JSON format "
                   "into DIR/<artifact>/ (needs polygraphy)")


def test_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save-test-data", action="store_true",
                   help="write each ONNX artifact's parity inputs and eager outputs in ONNX's "
                   "test-data layout beside it: <stem>.test_data/{model.onnx, "
                   "test_data_set_N/input_0.pb, output_0.pb}")


def trust_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-torchscript", action="store_true",
                   help="load TorchScript files (programs that run code when loaded); only "
                   "for folders you trust")


__all__ = [
    "HelpFormatter",
    "devices_option",
    "model_options",
    "network_options",
    "onnx_options",
    "ratio_help",
    "reference_option",
    "refuse_onnx_options",
    "runtimes_option",
    "test_data_option",
    "tolerance_options",
    "trust_option",
    "verbose_option",
]
