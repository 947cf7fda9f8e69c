"""Text form of an ``inspect`` record (``inspection.inspect_path``); --json is the record."""

from __future__ import annotations

import json
from typing import Any

from ..artifacts.fields import one_tensor
from ..errors import ArtifactError
from .text import escape_controls, sci


def inspect_json(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=False)


def inspect_text(record: dict[str, Any]) -> str:
    """The record as aligned lines. Every line is escaped whole: manifest strings and ONNX
    metadata are the folder's, and a control character in them (ESC, CR, a newline) could
    clear the screen or forge a line; each value stays on its own line."""
    lines = [f"{record['target']} ({record['kind']}); manifest: {record['manifest'] or 'none'}; "
             f"signature: {record['signature']}"]
    for a in record["artifacts"]:
        lines.append("")
        lines.extend(_artifact(a, record.get("graph_run")))
    return "\n".join(escape_controls(line) for line in lines)


def _dims(dims: list[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _row(key: str, value: object) -> str:
    return f"  {key:<10}  {value}"


def _tensors(records: Any, kind: str) -> list[str]:
    out = []
    for i, t in enumerate(records or []):
        try:
            r = one_tensor(t, f"{kind}[{i}]")
            out.append(_row(kind[:-1], f"{r.name} {_dims(list(r.dims))} {r.dtype}"))
        except ArtifactError as e:
            out.append(_row(kind[:-1], f"malformed manifest record: {e}"))
    return out


def _artifact(a: dict[str, Any], ran: float | None = None) -> list[str]:
    if not a["exists"]:
        why = f": {a['error']}" if a.get("error") else ""
        return [f"{a['path']} ({a['format']}): MISSING (named in the manifest){why}"]
    if a.get("sha256") is None:
        return [f"{a['path']} ({a['format']}): NOT READ: {a.get('error')}"]
    out = [f"{a['path']} ({a['format']}, {a['size'] / 1024:.1f} KiB)"]
    m, g = a["manifest"], a["graph"]
    if m:
        out.append(_row("status", m["status"]))
        spec = m["model"] or {}
        ratio = f" ratio={spec['ratio']}" if spec.get("ratio") is not None else ""
        user = " (user network: verified by its stored reference)" \
            if m.get("source") == "user" else ""
        out.append(_row("model", f"{spec.get('name')} C={spec.get('channels')}{ratio} "
                                 f"layout={spec.get('layout')}{user}"))
        for kind in ("inputs", "outputs"):
            out.extend(_tensors(m[kind], kind))
        how = (m["exporter"] or "?") + (f", opset {m['opset']}" if m["opset"] is not None
                                        else "")
        out.append(_row("exporter", how))
        out.append(_row("precision", _precision(m)))
        if m.get("fallback_reason"):
            out.append(_row("fallback", m["fallback_reason"]))
        out.append(_row("parity", _parity(m["parity"])))
    elif g and "error" not in g:
        for kind in ("inputs", "outputs"):
            for t in g[kind]:
                out.append(_row(kind[:-1], f"{t['name']} {_dims(t['dims'])} {t['dtype']}"))
        out.append(_row("parity", "unknown (no manifest names this file)"))
    if g is not None:
        if "error" in g:
            out.append(_row("graph", g["error"]))
        else:
            ops = ", ".join(f"{d} {v}" for d, v in g["opset"].items())
            out.append(_row("graph", f"{g['nodes']} nodes, opset {ops}, ir {g['ir_version']}, "
                                     f"producer {g['producer'] or '?'}"))
            for k, v in g["metadata"].items():
                out.append(_row("metadata", f"{k} = {json.dumps(v)}"))
    if a.get("archive"):
        z = a["archive"]
        facts = (f"zip archive, {z['entries']} entries, not loaded (inspect never runs a program)"
                 if z["zip"] else f"not a zip archive: {z.get('error')}")
        out.append(_row("file", facts))
    out.append(_row("sha256", a["sha256"] + _match(a, m)))
    for f in (m or {}).get("files", []):
        if f["path"] != a["path"]:
            ok = "ok" if f["matches"] else ("MISSING" if not f["exists"] else "MISMATCH")
            out.append(_row(f["role"] or "file", f"{f['path']} {f['sha256'][:12]}... {ok}"))
    if a["lint"] is not None:
        how = (f"graph run at an unseen shape, limited to {ran:g} s" if ran is not None
               else "static rules only; --run-graph also runs the graph, limited")
        out.append(_row("lint", ("clean" if not a["lint"] else f"{len(a['lint'])} problem(s)")
                        + f" ({how})"))
        out.extend(_row("", f"{p['rule']}: {p['message']}") for p in a["lint"])
    return out


def _precision(m: dict[str, Any]) -> str:
    """fp32, or e.g. ``int8 (onnxruntime.quantization 1.32.0, recipe gate-float, calibration
    parity-generator sha256 1a2b3c4d..., worst SQNR 41.2 dB)``."""
    conv = m.get("conversion") or {}
    if not conv:
        return str(m.get("precision") or "fp32")
    recipe = conv.get("recipe") or {}
    cal = conv.get("calibration") or {}
    meas = conv.get("measures") or {}
    parts = [f"{conv.get('tool')} {conv.get('tool_version')}"]
    if recipe.get("recipe"):
        parts.append(f"recipe {recipe['recipe']}")
    if recipe.get("io"):
        parts.append(f"{recipe['io']} I/O")
    if cal:
        parts.append(f"calibration {cal.get('source')} sha256 {str(cal.get('sha256'))[:12]}...")
    if meas.get("worst_sqnr_db") is not None:
        parts.append(f"worst SQNR {float(meas['worst_sqnr_db']):.1f} dB")
    if meas.get("top1_agreement") is not None:
        parts.append(f"top-1 {float(meas['top1_agreement']):.1%}")
    return f"{conv.get('precision')} ({', '.join(parts)})"


def _match(a: dict[str, Any], m: dict[str, Any] | None) -> str:
    if not m:
        return ""
    return " (matches the manifest)" if m["sha256"] == a["sha256"] else \
        f" (MISMATCH: the manifest says {m['sha256']})"


def _parity(p: dict[str, Any]) -> str:
    if p.get("error"):
        return p["error"]
    verdict = {True: "PASS", False: "FAIL"}.get(p["passed"], "unknown")
    vac = p.get("vacuous")
    if isinstance(vac, dict) and p["passed"]:  # checks that prove nothing: never a plain PASS
        rw = vac.get("random_weights")
        verdict = ("VACUOUS at these weights, proven by a random-weights copy" if
                   isinstance(rw, dict) and rw.get("passed") else
                   "VACUOUS at these weights, not proven")
    text = f"{verdict}, {p['checks']} checks at atol {p['atol']} rtol {p['rtol']}"
    w, gate = p.get("worst"), p.get("gate") or {}
    if gate.get("bound") == "sqnr":  # int8
        text = (f"{verdict}, {p['checks']} checks at SQNR >= {gate.get('min_sqnr_db')} dB, "
                f"cosine >= {gate.get('min_cosine')}")
        if w and "sqnr_db" in w:
            shape = "x".join(str(d) for d in w["shape"])
            return text + f"; worst {w['backend']} {w['case']} {shape}: SQNR " \
                          f"{float(w['sqnr_db']):.1f} dB"
    if w:
        shape = "x".join(str(d) for d in w["shape"])
        text += (f"; worst {w['backend']} {w['case']} {shape}: max_abs {sci(float(w['max_abs']))}"
                 f", needs atol {sci(float(w['needed_atol']))}")
    return text


__all__ = ["inspect_json", "inspect_text"]
