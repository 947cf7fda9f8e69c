"""The benchmark commands: ``bench`` (and ``bench --compare``) and ``report``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import EXIT_ERROR, EXIT_FAILED, EXIT_OK, require_torch, say

DEFAULT_REPORT = "report.html"


def _display_names(a: Path, b: Path) -> tuple[str, str]:
    """File names for the comparison's columns; whole paths when the names are the same."""
    return (a.name, b.name) if a.name != b.name else (str(a), str(b))


def _compare(args: argparse.Namespace) -> int:
    """``--compare A B [--fail-slower PCT]``: exit 1 only for a case slower beyond PCT; exit 2
    (one line) for files that cannot be compared, or a case not timed on both sides."""
    from ..bench.compare import (
        check_comparable,
        compare,
        gate,
        parse_threshold,
    )
    from ..bench.files import read_json
    from ..render.bench import comparison_table

    threshold = None if args.fail_slower is None else parse_threshold(args.fail_slower)
    if args.allow_missing and threshold is None:
        from ..errors import InvalidSpecError

        raise InvalidSpecError("--allow-missing goes with --fail-slower PCT")
    (_, a), (_, b) = read_json(args.compare[0]), read_json(args.compare[1])
    names = _display_names(*args.compare)
    c = compare(a, b, *names)
    check_comparable(c, *names)
    verdict = None if threshold is None else gate(c, threshold, args.allow_missing, *names)
    print(comparison_table(c, *names, fail_slower=threshold, verdict=verdict))
    if verdict is not None and verdict.code == EXIT_ERROR:
        say(f"error: bench --compare: {c.unmatched} case(s) not timed on both sides; "
            "the gate cannot pass (--allow-missing gates on the common cases only)")
    return EXIT_OK if verdict is None else verdict.code


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import session
    from ..bench.config import plan
    from ..render.bench import results_table, run_footer

    if args.compare:
        return _compare(args)
    if args.fail_slower is not None or args.allow_missing:
        from ..errors import InvalidSpecError

        raise InvalidSpecError("--fail-slower and --allow-missing go with --compare A.json "
                               "B.json")
    require_torch("bench")  # --compare reads JSON only: it works without torch
    cfg = session.make_config(
        models=args.models, backends=args.backends, devices=args.devices,
        batch_sizes=args.batch_sizes, threads=args.threads, dtype=args.dtype,
        warmup=args.warmup, repeats=args.repeats, stretches=args.stretches,
        quick=args.quick,
        rotate_inputs=args.rotate_inputs, include_transfer=args.include_transfer,
        precisions=args.precisions)
    session.check_output_deps(not args.no_plot)
    from ..render.progress import Progress, Silent

    bar = Silent() if args.no_progress else Progress(len(plan(cfg)), eta=True)

    def note(msg: str) -> None:  # a warning is a line of its own, even with --no-progress
        if msg.startswith("warning:"):
            bar.clear()
            say(msg)
        else:
            bar.note(msg)

    with bar:
        res = session.run(cfg, say=note, on_result=lambda r: bar.step(
            f"{r.model} {r.label} {r.device} batch {r.batch_size}"))
    paths = session.write(res, args.out, plot=not args.no_plot)
    print(results_table(res.results))
    print(run_footer(cfg, res.bandwidth))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return EXIT_FAILED if any(r.error for r in res.results) else EXIT_OK


def _bench_parser(sub: Any) -> None:
    help_ = ("time eager, TorchScript, torch.export (.pt2) and onnxruntime across devices "
             "and batch sizes")
    p = sub.add_parser("bench", help=help_, description=help_)
    p.add_argument("--models", help="comma-separated models (default: all; --quick: one)")
    p.add_argument("--backends", help="comma-separated: eager,torchscript,torch-export,"
                   "onnxruntime,compile or all (default: all but compile)")
    p.add_argument("--devices", help="comma-separated: cpu,cuda (default: cpu, plus cuda "
                   "when present)")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes (default 1,8,32)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for torch and onnxruntime alike (default: all cores)")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="float16 runs on CUDA only (default float32)")
    p.add_argument("--precisions", default=None, help="comma-separated onnxruntime file "
                   "precisions: fp32,fp16,int8 (default fp32; others run fp32 only)")
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
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines on stderr (the busy-load warning still shows)")
    p.add_argument("--no-plot", action="store_true", help="no PNG (no matplotlib needed)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                   help="print the ratios between two result files (bench's or "
                   "pytest-benchmark's JSON) and exit")
    p.add_argument("--fail-slower", metavar="PCT", default=None,
                   help="with --compare: exit 1 when a case of B is slower than A by more "
                   "than PCT (e.g. 10%%; the %% is required); a case not timed on both "
                   "sides (missing, skipped on one side, failed) exits 2")
    p.add_argument("--allow-missing", action="store_true",
                   help="with --fail-slower: gate on the cases both files timed; cases "
                   "missing or failed on one side are listed but do not fail the gate")
    p.set_defaults(func=cmd_bench)


def cmd_report(args: argparse.Namespace) -> int:
    from ..render.report import gather, write_report

    out = args.out
    if out is None:  # the default name: never silently replace a page from an earlier run
        out = Path(DEFAULT_REPORT)
        if out.exists() and not args.force:
            from ..errors import InvalidSpecError

            raise InvalidSpecError(f"{out} exists: pass --force to replace it, or --out PATH "
                                   "to write another page")
    data = gather(args.dir, args.bench)
    path = write_report(data, out)
    print(f"wrote {path} ({len(data.artifacts)} artifacts, {len(data.bench)} benchmark files)")
    return EXIT_OK


def _report_parser(sub: Any) -> None:
    help_ = "write one self-contained HTML page: artifacts, parity, checksums, benchmarks"
    p = sub.add_parser("report", help=help_, description=help_)
    p.add_argument("dir", type=Path, nargs="?", default=Path("artifacts"),
                   help="artifact folder (default ./artifacts)")
    p.add_argument("--bench", type=Path, default=None, metavar="FILE_OR_DIR",
                   help="a bench or pytest-benchmark JSON file, or a folder of them")
    p.add_argument("--out", type=Path, default=None,
                   help=f"the page to write, replaced if it exists (a folder: FOLDER/"
                   f"{DEFAULT_REPORT}); default ./{DEFAULT_REPORT}, which is never replaced "
                   "without --force")
    p.add_argument("--force", action="store_true",
                   help=f"replace an existing ./{DEFAULT_REPORT} when --out is not given")
    p.set_defaults(func=cmd_report)


def add_parsers(sub: Any) -> None:
    _bench_parser(sub)
    _report_parser(sub)
