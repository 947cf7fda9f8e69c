"""The export commands: ``onnx``, ``torchscript``, ``pt2``, ``all`` and ``list``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..spec import Format, Layout
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    print_parity,
    progress,
    save_reference_from_args,
    save_test_data_from_args,
    say,
)
from .options import (
    model_options,
    network_options,
    onnx_options,
    precision_options,
    reference_option,
    refuse_onnx_options,
    runtimes_option,
    test_data_option,
)

DEFAULT_MODEL = "cbam-channel"


def _export(fmt: Format, args: argparse.Namespace, model: object, layout: str,
            note: Callable[[str], None] = say) -> Any:
    from .. import api

    common = dict(channels=args.channels, ratio=args.ratio, layout=layout, batch=args.batch,
                  height=args.height, width=args.width, dynamic_hw=args.dynamic_hw,
                  weights=args.weights, seed=args.seed, out=args.out, progress=note,
                  hidden=args.hidden, preset=args.preset, atol=args.atol, rtol=args.rtol,
                  devices=args.devices, keep_failed=args.keep_failed,
                  input_shape=args.input_shape, name=args.name)
    if fmt is Format.ONNX:
        return api.export_onnx(model, opset=args.opset, exporter=args.exporter,
                               precision=args.precision, calibration=args.calibration,
                               fp16_io=args.fp16_io, int8_recipe=args.int8_recipe,
                               runtimes=getattr(args, "runtimes", None), **common)
    export = api.export_pt2 if fmt is Format.PT2 else api.export_torchscript
    return export(model, **common)


def cmd_export(fmt: Format) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from ..render.folder import export_line

        res = _export(fmt, args, _model_or_network(args), args.layout)
        print(export_line(res))
        ok = print_parity([(res.path.name, res.parity)]) and res.passed
        _print_localized(res)
        print(f"manifest: {Path(args.out) / 'manifest.json'}")
        save_reference_from_args(args, Path(args.out), [res.path.name])
        if res.passed:  # committed to the manifest (a failed export is not)
            save_test_data_from_args(args, Path(args.out), [res.path.name])
        return EXIT_OK if ok else EXIT_FAILED

    return run


def _model_or_network(args: argparse.Namespace) -> object:
    """``--model`` (a registered block), or the ``nn.Module`` that ``--network`` names."""
    from ..errors import InvalidSpecError

    if args.network is None:
        if args.input_shape is not None or args.name is not None:
            raise InvalidSpecError("--input-shape and --name are for --network; a registered "
                                   "model takes --batch, --channels, --height and --width")
        return args.model or DEFAULT_MODEL
    if args.model is not None:
        raise InvalidSpecError("give --model (a registered block) or --network (your own "
                               "nn.Module), not both")
    if args.input_shape is None:
        raise InvalidSpecError("--network needs --input-shape N,C,H,W (in --layout's order)")
    from ..network.load import load_network

    return load_network(args.network)


def cmd_all(args: argparse.Namespace) -> int:
    from ..registry import get_model_info, list_models
    from ..render.folder import export_line

    infos = [get_model_info(n.strip()) for n in args.models.split(",")] if args.models \
        else [i for i in list_models() if args.preset == "default" or args.preset in i.presets]
    items, ok_lint = [], True
    formats: tuple[Format, ...] = (Format.ONNX, Format.TORCHSCRIPT)  # .pt2: the `pt2` command
    if args.precision != "fp32":  # fp16/int8 are ONNX files; TorchScript stays fp32
        formats = (Format.ONNX,)
    with progress(len(infos) * len(Layout) * len(formats)) as bar:
        for info in infos:
            for layout in Layout:
                for fmt in formats:
                    ns = argparse.Namespace(**vars(args))
                    if not info.uses_ratio:
                        ns.ratio = None
                    ns.dynamic_hw = args.dynamic_hw and not info.fixed_hw  # fca: tied to H x W
                    res = _export(fmt, ns, info.name, layout.value, bar.note)
                    bar.clear()
                    print(export_line(res), flush=True)
                    _print_localized(res)
                    bar.step(res.path.name)
                    items.append((res.path.name, res.parity))
                    ok_lint = ok_lint and not res.lint
    ok = print_parity(items) and ok_lint
    print(f"{len(items)} artifacts, manifest: {Path(args.out) / 'manifest.json'}")
    return EXIT_OK if ok else EXIT_FAILED


def _print_localized(res: Any) -> None:
    """A failed export's first diverging node, and where its repro went."""
    if res.localized is not None:
        print(res.localized.line(res.path.name))
    if res.repro_path is not None:
        print(f"repro: {res.repro_path}/")
    elif res.localized is not None and res.localized.divergence is not None and not res.written:
        print("(--keep-failed keeps the file and writes a repro of the diverging node)")


def cmd_list(args: argparse.Namespace) -> int:
    from ..registry import list_models

    models = list_models()
    width = max(len(m.name) for m in models)
    for m in models:
        print(f"{m.name.ljust(width)}  {m.summary}")
    return EXIT_OK


ALL_HELP = "export every registered model (or --models) to ONNX and TorchScript, both layouts"
ALL_DESCRIPTION = (
    "Export each model in both layouts (nchw, nhwc) to ONNX and TorchScript and check parity "
    "of each; one table at the end, exit 1 if any artifact failed parity or the graph lint. "
    ".pt2 programs come from the pt2 command.")
LIST_HELP = "list the registered models: name and one-line summary"
LIST_DESCRIPTION = ("Print every registered model (built-in and from plugins), one per line: "
                    "the name --model takes, then what the block computes.")


def add_parsers(sub: Any) -> None:
    common, onnx_only = model_options(), onnx_options()
    for fmt, help_ in ((Format.ONNX, "export one model to ONNX and check parity"),
                       (Format.TORCHSCRIPT, "export one model to TorchScript and check parity"),
                       (Format.PT2, "export one model as a torch.export program (.pt2)")):
        parents = [common, onnx_only] if fmt is Format.ONNX else [common]
        p = sub.add_parser(fmt.value, parents=parents, help=help_, description=help_)
        if fmt is Format.ONNX:
            precision_options(p)
            runtimes_option(p)
            test_data_option(p)
        p.add_argument("--model", default=None,
                       help=f"registered model (see: list; default {DEFAULT_MODEL})")
        network_options(p)
        p.add_argument("--weights", type=Path, default=None,
                       help="safetensors or torch.save state dict (loaded weights_only)")
        reference_option(p)
        p.add_argument("--hidden", type=int, default=None, help="hidden (bottleneck) width "
                       "(default: from --ratio and --preset, or the --weights file's shapes)")
        if fmt is not Format.ONNX:
            refuse_onnx_options(p)
        p.set_defaults(func=cmd_export(fmt), needs_torch=True)
    p = sub.add_parser("all", parents=[common, onnx_only], help=ALL_HELP,
                       description=ALL_DESCRIPTION)
    precision_options(p)
    runtimes_option(p)
    # --model is an alias: `all --model se` means what it says (argparse's prefix matching,
    # which used to read it as --models, is off)
    p.add_argument("--models", "--model", dest="models", metavar="A,B",
                   help="comma-separated models (default: all; --model is the same option)")
    # every registered model: no --weights, no network
    p.set_defaults(func=cmd_all, weights=None, hidden=None, input_shape=None, name=None,
                   needs_torch=True)
    p = sub.add_parser("list", help=LIST_HELP, description=LIST_DESCRIPTION)
    p.set_defaults(func=cmd_list, needs_torch=True)
