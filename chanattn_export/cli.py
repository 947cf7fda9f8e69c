"""``python -m chanattn_export``: a thin front over the API. Nothing imports this module.

Exit codes: 0 success, 1 a check failed (parity, verification), 2 bad input or a toolkit error,
130 interrupted. Toolkit errors print one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._version import __version__
from .errors import ChanAttnError
from .spec import (
    DEFAULT_ATOL,
    DEFAULT_CHANNELS,
    DEFAULT_OPSET,
    DEFAULT_RTOL,
    DEFAULT_SIZE,
    PRESETS,
    Exporter,
    Format,
    Layout,
)

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _model_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("model")
    g.add_argument("--channels", type=int, default=DEFAULT_CHANNELS,
                   help=f"input channels C (default {DEFAULT_CHANNELS})")
    g.add_argument("--ratio", type=int, default=None,
                   help="MLP reduction ratio (default 16, or C when C < 16; not for eca)")
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
    g.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset (default {DEFAULT_OPSET})")
    g.add_argument("--exporter", choices=[m.value for m in Exporter], default="auto",
                   help="ONNX exporter: auto = dynamo (torch.export), legacy if that fails")
    g.add_argument("--out", type=Path, default=Path("artifacts"),
                   help="output folder (default ./artifacts)")
    _tolerance_options(p)
    _devices_option(p)
    return p


def _devices_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--devices", default=None,
                   help="comma-separated devices parity runs on: cpu, cuda (default: cpu, plus "
                   "cuda when present; an unusable GPU is then reported and skipped)")


def _tolerance_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parity")
    g.add_argument("--atol", type=float, default=None,
                   help=f"absolute tolerance per unit of max|x| (default {DEFAULT_ATOL:g})")
    g.add_argument("--rtol", type=float, default=None,
                   help=f"relative tolerance (default {DEFAULT_RTOL:g})")


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


def _export(fmt: Format, args: argparse.Namespace, model: str, layout: str) -> object:
    from . import api

    common = dict(channels=args.channels, ratio=args.ratio, layout=layout, batch=args.batch,
                  height=args.height, width=args.width, dynamic_hw=args.dynamic_hw,
                  weights=args.weights, seed=args.seed, out=args.out, progress=_say,
                  hidden=args.hidden, preset=args.preset, atol=args.atol, rtol=args.rtol,
                  devices=args.devices)
    if fmt is Format.ONNX:
        return api.export_onnx(model, opset=args.opset, exporter=args.exporter, **common)
    return api.export_torchscript(model, **common)


def cmd_export(fmt: Format) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from .render.folder import export_line

        res = _export(fmt, args, args.model, args.layout)
        print(export_line(res))
        ok = _print_parity([(res.path.name, res.parity)])
        print(f"manifest: {Path(args.out) / 'manifest.json'}")
        return EXIT_OK if ok else EXIT_FAILED

    return run


def cmd_all(args: argparse.Namespace) -> int:
    from .registry import get_model_info, list_models
    from .render.folder import export_line

    infos = [get_model_info(n.strip()) for n in args.models.split(",")] if args.models \
        else [i for i in list_models() if args.preset == "default" or args.preset in i.presets]
    items = []
    for info in infos:
        for layout in Layout:
            for fmt in Format:
                ns = argparse.Namespace(**vars(args))
                if not info.uses_ratio:
                    ns.ratio = None
                ns.dynamic_hw = args.dynamic_hw and not info.fixed_hw  # fca: tied to H x W
                res = _export(fmt, ns, info.name, layout.value)
                print(export_line(res), flush=True)
                items.append((res.path.name, res.parity))
    ok = _print_parity(items)
    print(f"{len(items)} artifacts, manifest: {Path(args.out) / 'manifest.json'}")
    return EXIT_OK if ok else EXIT_FAILED


def cmd_parity(args: argparse.Namespace) -> int:
    from .api import check_parity

    checks = check_parity(args.dir, atol=args.atol, rtol=args.rtol, devices=args.devices)
    ok = _print_parity([(c.entry.path, c.parity) for c in checks])
    return EXIT_OK if ok else EXIT_FAILED


def cmd_verify(args: argparse.Namespace) -> int:
    from .render.folder import problem_line, verify_summary
    from .verify import has_errors, verify_folder

    problems = verify_folder(args.dir, tolerance=_tolerance(args), devices=args.devices)
    for p in problems:
        print(problem_line(args.dir, p))
    print(verify_summary(args.dir, problems))
    return EXIT_FAILED if has_errors(problems) else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import list_models

    models = list_models()
    width = max(len(m.name) for m in models)
    for m in models:
        print(f"{m.name.ljust(width)}  {m.summary}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import session
    from .bench.records import read_json
    from .render.bench import comparison_table, results_table, run_footer

    if args.compare:
        from .bench.compare import compare

        (_, a), (_, b) = read_json(args.compare[0]), read_json(args.compare[1])
        print(comparison_table(compare(a, b), "A", "B"))
        return EXIT_OK
    cfg = session.make_config(
        models=args.models, backends=args.backends, devices=args.devices,
        batch_sizes=args.batch_sizes, threads=args.threads, dtype=args.dtype,
        warmup=args.warmup, repeats=args.repeats, stretches=args.stretches,
        quick=args.quick,
        rotate_inputs=args.rotate_inputs, include_transfer=args.include_transfer)
    session.check_output_deps(not args.no_progress, not args.no_plot)
    res = session.run(cfg, progress=not args.no_progress, say=_say)
    paths = session.write(res, args.out, plot=not args.no_plot)
    print(results_table(res.results))
    print(run_footer(cfg, res.bandwidth))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return EXIT_FAILED if any(r.error for r in res.results) else EXIT_OK


def _bench_parser(sub) -> None:  # type: ignore[no-untyped-def]
    help_ = "time eager, TorchScript and onnxruntime across devices and batch sizes"
    p = sub.add_parser("bench", help=help_, description=help_)
    p.add_argument("--models", help="comma-separated models (default: all; --quick: one)")
    p.add_argument("--backends", help="comma-separated: eager,torchscript,onnxruntime,compile "
                   "or all (default: all but compile)")
    p.add_argument("--devices", help="comma-separated: cpu,cuda (default: cpu, plus cuda "
                   "when present)")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes (default 1,8,32)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for torch and onnxruntime alike (default: all cores)")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="float16 runs on CUDA only (default float32)")
    p.add_argument("--warmup", type=int, default=None, help="discarded calls per case")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per case (>= 3)")
    p.add_argument("--stretches", type=int, default=None,
                   help="time each case N times on fresh buffers, samples pooled "
                   "(default 3; --quick: 1)")
    p.add_argument("--rotate-inputs", action="store_true",
                   help="cycle input buffers larger than the last-level cache")
    p.add_argument("--include-transfer", action="store_true",
                   help="on CUDA, time host-to-device and back copies too")
    p.add_argument("--quick", action="store_true", help="smoke run: one model, batch 1,8")
    p.add_argument("--out", type=Path, default=Path("bench-results"),
                   help="folder for bench.json, bench.csv, bench.png (default ./bench-results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plot", action="store_true", help="no PNG (no matplotlib needed)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                   help="print the ratios between two result files and exit")
    p.set_defaults(func=cmd_bench)


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
                       (Format.TORCHSCRIPT, "export one model to TorchScript and check parity")):
        p = sub.add_parser(fmt.value, parents=[common], help=help_, description=help_)
        p.add_argument("--model", default="cbam-channel", help="registered model (see: list)")
        p.add_argument("--weights", type=Path, default=None,
                       help="safetensors or torch.save state dict (loaded weights_only)")
        p.add_argument("--hidden", type=int, default=None, help="hidden (bottleneck) width "
                       "(default: from --ratio and --preset, or the --weights file's shapes)")
        p.set_defaults(func=cmd_export(fmt))
    p = sub.add_parser("all", parents=[common], help="both formats for every model and layout")
    p.add_argument("--models", metavar="A,B", help="comma-separated models (default: all)")
    p.set_defaults(func=cmd_all, weights=None, hidden=None)  # every model: no --weights
    p = sub.add_parser("parity", help="re-run parity for an artifact folder from its manifest")
    p.add_argument("dir", type=Path, nargs="?", default=Path("artifacts"),
                   help="artifact folder (default ./artifacts)")
    _tolerance_options(p)
    _devices_option(p)
    p.set_defaults(func=cmd_parity)
    help_ = "prove an artifact folder: checksums, loading, quick parity (exit 1 on a problem)"
    p = sub.add_parser("verify", help=help_, description=help_)
    p.add_argument("dir", type=Path, nargs="?", default=Path("artifacts"),
                   help="artifact folder (default ./artifacts)")
    _tolerance_options(p)
    _devices_option(p)
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("list", help="list the registered models")
    p.set_defaults(func=cmd_list)
    _bench_parser(sub)
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
    except KeyboardInterrupt as e:
        code = exit_code(e)
        what = "terminated (SIGTERM)" if code != EXIT_INTERRUPTED else "interrupted"
        print(f"{what}: stopped cleanly; the output folder is consistent", file=sys.stderr)
        return code
