"""``python -m chanattn_export``: a thin front over the API. Nothing imports this module.

Exit codes: 0 success, 1 a check failed (parity, verification), 2 bad input or a toolkit error,
130 interrupted. Toolkit errors print one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import _cli_deploy as deploy
from ._cli_options import _devices_option, _model_options, _tolerance_options, network_options
from ._version import __version__
from .cli_trust import add_sign_commands, public_key_option, silence_stdout, trust_option
from .errors import ChanAttnError
from .spec import Format, Layout

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_MODEL = "cbam-channel"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _tolerance(args: argparse.Namespace):
    from .api import tolerance

    return tolerance(args.atol, args.rtol)


def _print_parity(items: list[tuple[str, object]]) -> bool:
    from .render.parity import failure_lines, parity_table, skip_lines

    print(parity_table(items))  # type: ignore[arg-type]
    ok = True
    for name, rep in items:
        for line in skip_lines(name, rep):  # type: ignore[arg-type]
            print(line)
        # A GPU named in --devices that could not be checked fails the command, not the file.
        ok = ok and not any(k.requested for k in rep.skipped)  # type: ignore[attr-defined]
        for line in failure_lines(name, rep):  # type: ignore[arg-type]
            print(line)
            ok = False
    return ok


def _export(fmt: Format, args: argparse.Namespace, model: object, layout: str,
            say: Callable[[str], None] = _say) -> object:
    from . import api

    common = dict(channels=args.channels, ratio=args.ratio, layout=layout, batch=args.batch,
                  height=args.height, width=args.width, dynamic_hw=args.dynamic_hw,
                  weights=args.weights, seed=args.seed, out=args.out, progress=say,
                  hidden=args.hidden, preset=args.preset, atol=args.atol, rtol=args.rtol,
                  devices=args.devices, keep_failed=args.keep_failed,
                  input_shape=args.input_shape, name=args.name)
    if fmt is Format.ONNX:
        return api.export_onnx(model, opset=args.opset, exporter=args.exporter, **common)
    export = api.export_pt2 if fmt is Format.PT2 else api.export_torchscript
    return export(model, **common)


def cmd_export(fmt: Format) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from .render.folder import export_line

        res = _export(fmt, args, _model_or_network(args), args.layout)
        print(export_line(res))
        ok = _print_parity([(res.path.name, res.parity)]) and res.passed
        print(f"manifest: {Path(args.out) / 'manifest.json'}")
        deploy.save_reference_from_args(args, Path(args.out), [res.path.name])
        return EXIT_OK if ok else EXIT_FAILED

    return run


def _model_or_network(args: argparse.Namespace) -> object:
    """``--model`` (a registered block), or the ``nn.Module`` that ``--network`` names."""
    from .errors import InvalidSpecError

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
    from .user_network import load_network

    return load_network(args.network)


def _progress(total: int | None):  # type: ignore[no-untyped-def]
    from .render.progress import Progress

    return Progress(total)


def _manifest_size(folder: Path) -> int | None:
    """How many entries ``parity DIR`` / ``verify DIR`` will go through (None: unknown)."""
    from .artifacts import ArtifactFolder

    try:
        return len(ArtifactFolder(folder).read_manifest(missing_ok=False).entries) or None
    except Exception:  # the command itself reports what is wrong with the folder
        return None


def cmd_all(args: argparse.Namespace) -> int:
    from .registry import get_model_info, list_models
    from .render.folder import export_line

    infos = [get_model_info(n.strip()) for n in args.models.split(",")] if args.models \
        else [i for i in list_models() if args.preset == "default" or args.preset in i.presets]
    items, ok_lint = [], True
    formats = (Format.ONNX, Format.TORCHSCRIPT)  # .pt2: the `pt2` command
    with _progress(len(infos) * len(Layout) * len(formats)) as bar:
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
                    bar.step(res.path.name)
                    items.append((res.path.name, res.parity))
                    ok_lint = ok_lint and not res.lint
    ok = _print_parity(items) and ok_lint
    print(f"{len(items)} artifacts, manifest: {Path(args.out) / 'manifest.json'}")
    return EXIT_OK if ok else EXIT_FAILED


def cmd_parity(args: argparse.Namespace) -> int:
    from .api import check_parity
    from .render.folder import problem_line

    with _progress(_manifest_size(args.dir)) as bar:
        checks = check_parity(args.dir, atol=args.atol, rtol=args.rtol, devices=args.devices,
                              trust_torchscript=args.trust_torchscript, progress=bar.step)
    for c in checks:
        for p in c.problems:
            _say(problem_line(args.dir, p))
    if args.json:
        from .render.machine import parity_json

        print(parity_json(args.dir, checks))
        ok = all(c.parity is not None and c.parity.passed for c in checks)
    else:
        ok = _print_parity([(c.entry.path, c.parity) for c in checks])
    deploy.save_reference_from_args(args, args.dir, None)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_verify(args: argparse.Namespace) -> int:
    from .render.folder import problem_line, verify_summary
    from .verify import has_errors, verify_folder

    with _progress(_manifest_size(args.dir)) as bar:
        problems = verify_folder(args.dir, tolerance=_tolerance(args),
                                 public_key=args.public_key,
                                 trust_torchscript=args.trust_torchscript, devices=args.devices,
                                 progress=bar.step)
    # --strict: anything not proven (a warning: a TorchScript file not loaded, a GPU skipped,
    # an untidy folder) fails too, for pipelines that want "all checked" or nothing
    failed = has_errors(problems) or (args.strict and bool(problems))
    if args.json:
        from .render.machine import verify_json

        print(verify_json(args.dir, problems, ok=not failed))
        return EXIT_FAILED if failed else EXIT_OK
    for p in problems:
        print(problem_line(args.dir, p))
    print(verify_summary(args.dir, problems, strict=args.strict))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import list_models

    models = list_models()
    width = max(len(m.name) for m in models)
    for m in models:
        print(f"{m.name.ljust(width)}  {m.summary}")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse with the toolkit's one-line error format (usage stays behind --help)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_ERROR, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chanattn_export",
        description="Export channel-attention blocks to TorchScript and ONNX, with parity checks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    common = _model_options()
    for fmt, help_ in ((Format.ONNX, "export one model to ONNX and check parity"),
                       (Format.TORCHSCRIPT, "export one model to TorchScript and check parity"),
                       (Format.PT2, "export one model as a torch.export program (.pt2)")):
        p = sub.add_parser(fmt.value, parents=[common], help=help_, description=help_)
        p.add_argument("--model", default=None,
                       help=f"registered model (see: list; default {DEFAULT_MODEL})")
        network_options(p)
        p.add_argument("--weights", type=Path, default=None,
                       help="safetensors or torch.save state dict (loaded weights_only)")
        deploy.reference_option(p)
        p.add_argument("--hidden", type=int, default=None, help="hidden (bottleneck) width "
                       "(default: from --ratio and --preset, or the --weights file's shapes)")
        p.set_defaults(func=cmd_export(fmt))
    p = sub.add_parser("all", parents=[common], help="both formats for every model and layout")
    p.add_argument("--models", metavar="A,B", help="comma-separated models (default: all)")
    # every registered model: no --weights, no network
    p.set_defaults(func=cmd_all, weights=None, hidden=None, input_shape=None, name=None)
    p = sub.add_parser("parity", help="re-run parity for an artifact folder from its manifest")
    p.add_argument("dir", type=Path, nargs="?", default=Path("artifacts"),
                   help="artifact folder (default ./artifacts)")
    _tolerance_options(p)
    _devices_option(p)
    deploy.reference_option(p), deploy.json_option(p, "parity")
    trust_option(p)
    p.set_defaults(func=cmd_parity)
    help_ = "prove an artifact folder: checksums, loading, quick parity (exit 1 on a problem)"
    p = sub.add_parser("verify", help=help_, description=help_)
    p.add_argument("dir", type=Path, nargs="?", default=Path("artifacts"),
                   help="artifact folder (default ./artifacts)")
    _tolerance_options(p), deploy.json_option(p, "verify")
    _devices_option(p)
    trust_option(p)
    public_key_option(p)
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on warnings too (what was not checked: a TorchScript file not "
                   "loaded, a GPU skipped; files the manifest does not name)")
    p.set_defaults(func=cmd_verify)
    deploy.add_inspect_parser(sub)
    add_sign_commands(sub)
    p = sub.add_parser("list", help="list the registered models")
    p.set_defaults(func=cmd_list)
    from .cli_bench import add_bench_parsers

    add_bench_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .signals import exit_code, interrupts_as_exceptions

    try:
        with interrupts_as_exceptions():  # SIGTERM takes the Ctrl-C path: temp files removed
            return int(args.func(args))
    except ChanAttnError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt as e:
        code = exit_code(e)
        what = "terminated (SIGTERM)" if code != EXIT_INTERRUPTED else "interrupted"
        print(f"{what}: stopped cleanly; the output folder is consistent", file=sys.stderr)
        return code
