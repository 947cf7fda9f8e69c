"""The one-page HTML report: artifacts, parity, checksums, benchmarks, plots, machine.

Self-contained: inline CSS, plots as base64 PNG, no script, and a Content-Security-Policy that
forbids loading anything, so the page renders offline and cannot phone home. Everything that
comes from a manifest or a results file is untrusted text and goes through :func:`e`
(``html.escape``); no value is ever placed in markup unescaped. Plain f-strings rather than a
template engine: the page is a handful of tables, and escaping stays visible at each use.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._version import __version__
from .bench import ms, plot_title
from .text import num, sci

if TYPE_CHECKING:
    from ..bench.records import BenchResult, ResultsFile
    from .report_data import ArtifactView, ReportData

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;
 color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;
 border-bottom:2px solid #d9dde5;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:#5f6b7d}.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;
 padding:14px 16px;margin:10px 0}
.summary{display:flex;gap:12px;flex-wrap:wrap}.summary .card{flex:1;min-width:160px;margin:0}
.big{font-size:26px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{padding:4px 8px;border-bottom:1px solid #e6e9ef;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:hover td{background:#f8fafc}
.pass{color:#0a7a32;font-weight:600}.fail{color:#b42318;font-weight:600}
details{background:#fff;border:1px solid #dde1e8;border-radius:8px;margin:8px 0;
 padding:6px 12px}summary{cursor:pointer;font-weight:600;padding:4px 0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
 word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dt{color:#5f6b7d}dd{margin:0}img.plot{max-width:100%;border:1px solid #dde1e8;
 border-radius:6px;background:#fff}
"""


def e(v: Any) -> str:
    """Any value as escaped text: the only way data enters the page."""
    if v is None:
        return "-"
    if isinstance(v, (dict, list, tuple)):
        v = json.dumps(v, sort_keys=True, default=str)
    return html.escape(str(v), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 99,
           row_class: Sequence[str] | None = None, cls: str = "") -> str:
    """Rows of already-escaped cells (``_Raw``) or values (escaped here)."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            text = c.html if isinstance(c, _Raw) else e(c)
            cells.append(f'<td class="n">{text}</td>' if j >= numeric_from else f"<td>{text}</td>")
        rc = f' class="{e(row_class[i])}"' if row_class else ""
        body.append(f"<tr{rc}>{''.join(cells)}</tr>")
    c = f' class="{e(cls)}"' if cls else ""
    return f"<table{c}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw:
    """Markup built here from escaped parts (a verdict badge), passed through as is."""

    def __init__(self, markup: str) -> None:
        self.html = markup


def _verdict(ok: bool, vacuous: bool = False) -> _Raw:
    """PASS / FAIL; a pass that proves nothing at these weights reads VACUOUS, never PASS."""
    if ok and vacuous:
        return _Raw('<span class="fail">VACUOUS</span>')
    return _Raw(f'<span class="{"pass" if ok else "fail"}">{"PASS" if ok else "FAIL"}</span>')


def _overall(v: ArtifactView) -> _Raw:
    """The artifact's verdict; a vacuous one says how (if at all) it was proven."""
    vac = v.parity.vacuous if v.parity is not None else None
    if not (vac and v.entry.passed):
        return _verdict(v.entry.passed)
    rw = vac.get("random_weights")
    if isinstance(rw, dict) and rw.get("passed"):
        return _Raw(_verdict(True).html + ' <span class="muted">(vacuous at its weights; '
                    'proven with random weights)</span>')
    return _verdict(True, vacuous=True)


def _vacuous_row(v: ArtifactView, backend: str) -> bool:
    from ..check.vacuous import SUFFIX

    return v.parity is not None and bool(v.parity.vacuous) and not backend.endswith(SUFFIX)


def _dl(items: Mapping[str, Any]) -> str:
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items.items()) + "</dl>"


def _worst(v: ArtifactView) -> float | None:
    if v.parity is None or not v.parity.checks:
        return None
    return max(c.needed_atol for c in v.parity.checks)


def _overview(views: Sequence[ArtifactView]) -> str:
    rows = []
    for v in views:
        m, i = v.entry.model, v.entry.input
        hw = "dynamic" if i.dynamic_hw else f"{i.height}x{i.width}"
        worst = _worst(v)
        rows.append([v.entry.path, str(v.entry.format),
                     str(v.entry.conversion.get("precision", "fp32")), m.name, str(m.layout),
                     m.channels, m.ratio, hw, v.entry.exporter or "-", v.entry.opset,
                     len(v.parity.checks) if v.parity else 0,
                     "-" if worst is None else sci(worst), _overall(v)])
    return _table(["artifact", "format", "precision", "model", "layout", "C", "ratio", "H x W",
                   "exporter", "opset", "checks", "worst needed_atol", "result"], rows,
                  numeric_from=10)


def _artifact(v: ArtifactView) -> str:
    en = v.entry
    opened = "" if en.passed else " open"  # a failure is shown, not hidden behind a click
    out = [f'<details id="{e(en.path)}"{opened}><summary>{e(en.path)} &mdash; ',
           _verdict(en.passed).html, "</summary>", "<h3>Spec</h3>",
           _dl({"model": en.model.to_dict(), "input": en.input.to_dict(),
                "format": str(en.format), "exporter": en.exporter, "opset": en.opset,
                "fallback": en.fallback_reason or "none",
                "rewrites": ", ".join(en.rewrites) or "none", "inputs": list(en.inputs),
                "outputs": list(en.outputs), "precision": en.conversion or "fp32",
                **({"source": f"user network, verified by {en.reference}"}
                   if en.reference else {})})]
    out.append("<h3>Parity: every check</h3>")
    if v.parity is None:
        out.append(f'<p class="fail">{e(v.parity_problem)}</p>')
    else:
        tol = v.parity.tolerance
        out.append(f'<p class="muted">atol {e(tol.atol)} (per unit of max|x|), rtol '
                   f'{e(tol.rtol)}, seed {e(v.parity.seed)}; worst needed_atol '
                   f'{e(sci(_worst(v) or 0.0))}</p>')
        out.append(_runtimes(v.parity))
        from ..check.vacuous import note

        if note(v.parity):
            out.append(f'<p class="fail">{e(note(v.parity))}</p>')
        rows = [[c.backend, c.case, "x".join(map(str, c.shape)), sci(c.max_abs),
                 sci(c.max_rel), sci(c.needed_atol),
                 "-" if c.sqnr_db is None else f"{c.sqnr_db:.1f}", c.nan_mismatch,
                 _verdict(c.passed, _vacuous_row(v, c.backend)) if c.judged
                 else c.why] for c in v.parity.checks]
        out.append(_table(["backend", "input", "shape", "max_abs", "max_rel", "needed_atol",
                           "SQNR dB", "NaN mismatches", "result"], rows, numeric_from=3))
    out.append("<h3>Files and checksums</h3>")
    out.append(_table(["file", "role", "bytes", "sha256"],
                      [[f.path, f.role, f.size, _Raw(f'<code>{e(f.sha256)}</code>')]
                       for f in en.files]))
    out.append("<h3>Versions</h3>" + _dl(en.versions) + "</details>")
    return "".join(out)


def _runtimes(parity: Any) -> str:
    """One row per backend (runtime) that judged the file, then each one skipped and why."""
    rows = []
    for b in parity.backends():
        checks = [c for c in parity.checks if c.backend == b]
        rows.append([b, len(checks), sci(max(c.needed_atol for c in checks)),
                     _verdict(all(c.passed for c in checks))])
    rows += [[k.backend, 0, k.reason, _Raw('<span class="muted">SKIP</span>')]
             for k in parity.skipped]
    return _table(["runtime", "checks", "worst needed_atol", "result"], rows)


def _bench_rows(results: Sequence[BenchResult]) -> tuple[list[list[Any]], list[str]]:
    rows, notes = [], []
    for r in results:
        if r.error or r.skipped:
            what = "failed" if r.error else "skipped"
            notes.append(f"{what} {r.model} {r.label} {r.device} batch {r.batch_size}: "
                         f"{r.error or r.skipped}")
            continue
        rows.append([r.model, r.label, r.device, r.dtype, r.batch_size, r.threads,
                     ms(r.median_ms), ms(r.iqr_ms), ms(r.p90_ms), ms(r.p99_ms),
                     num(r.images_per_s, ",.0f"), num(r.gb_per_s, ".1f"),
                     num(r.x_floor, ".2f"), num(r.x_copy, ".2f")])
    return rows, notes


def _plot(results: Sequence[BenchResult], title: str) -> str:
    try:
        from .plot import throughput_figure

        png = throughput_figure(results, title, "png")
    except Exception as ex:  # matplotlib missing or broken: the tables still stand
        return f'<p class="muted">no plot: {e(ex)}</p>'
    data = base64.b64encode(png).decode("ascii")
    return (f'<img class="plot" alt="images per second against batch size" '
            f'src="data:image/png;base64,{data}">')


def _bench(name: str, f: ResultsFile) -> str:
    rows, notes = _bench_rows(f.results)
    machine = f.machine.get("cpu_model") or f.machine.get("processor") or ""
    when = f.datetime or "unknown time"
    commit = f.commit.get("id") or "unknown commit"
    out = [f"<h3>{e(name)}</h3>",
           f'<p class="muted">{e(when)} &middot; commit <code>{e(commit)}</code>'
           f"{' (dirty)' if f.commit.get('dirty') else ''} &middot; {e(machine)}</p>",
           _table(["model", "backend", "device", "dtype", "batch", "threads", "median_ms",
                   "iqr_ms", "p90_ms", "p99_ms", "images/s", "GB/s", "x_floor", "x_copy"], rows,
                  numeric_from=4, cls="bench")]
    if f.run.get("busy_warning"):  # timings from a loaded machine say so where they are read
        out.append(f'<p class="fail">{e(f.run["busy_warning"])}</p>')
    out += [f'<p class="fail">{e(n)}</p>' for n in notes]
    if rows:
        out.append(_plot(f.results, plot_title(machine, None, [name])))
    return "".join(out)


def _machine(name: str, f: ResultsFile) -> str:
    flat = {k: v for k, v in f.machine.items() if k != "chanattn_export"}
    ours = f.machine.get("chanattn_export")
    flat.update(ours if isinstance(ours, dict) else {})
    return (f"<details><summary>{e(name)}</summary><h3>machine_info</h3>{_dl(flat)}"
            f"<h3>commit</h3>{_dl(f.commit)}<h3>this run</h3>{_dl(f.run)}</details>")


def render_report(data: ReportData) -> str:
    """The whole page as one string."""
    views = data.artifacts
    passed = sum(v.entry.passed for v in views)
    cards = [("artifacts", len(views)), ("passed parity", passed),
             ("failed", len(views) - passed), ("benchmark files", len(data.bench))]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>chanattn_export report: {e(data.folder.name)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>chanattn_export report</h1><p class=\"muted\">folder <code>{e(data.folder)}"
        f"</code> &middot; generated {e(data.generated)} by chanattn_export "
        f"{e(__version__)}</p>",
        '<div class="summary">' + "".join(
            f'<div class="card"><div class="muted">{e(k)}</div><div class="big'
            f'{" fail" if k == "failed" and v else ""}">{e(v)}</div></div>'
            for k, v in cards) + "</div>",
        "<h2>Artifacts</h2>", _overview(views),
        "<h2>Parity, checksums and versions per artifact</h2>",
        *(_artifact(v) for v in views),
    ]
    if data.bench:
        parts.append("<h2>Benchmarks</h2>")
        parts.append('<p class="muted">median and interquartile range of raw samples; p90/p99 '
                     "from the same samples; x_copy = median over one copy of the case's own "
                     "working set in the same cache state and run (1: one pass over its bytes; "
                     "the plot's dashed line); x_floor = median over the block's bytes at the "
                     "DRAM bandwidth of a large copy (below 1: the input came from cache; the "
                     "plot's grey line, a ceiling only where no point beats it)</p>")
        parts += [_bench(p.name, f) for p, f in data.bench]
        parts.append("<h2>Machine</h2>")
        parts += [_machine(p.name, f) for p, f in data.bench]
    parts.append("</main></body></html>")
    return "\n".join(parts)


__all__ = ["CSP", "e", "render_report"]
