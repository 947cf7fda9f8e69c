"""Text form of an ``inspect`` record (``inspection.inspect_path``); --json is the record."""

from __future__ import annotations

import json
from typing import Any

from .text import sci


def inspect_json(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=False)


def inspect_text(record: dict[str, Any]) -> str:
    lines = [f"{record['target']} ({record['kind']}); manifest: {record['manifest'] or 'none'}; "
             f"signature: {record['signature']}"]
    for a in record["artifacts"]:
        lines.append("")
        lines.extend(_artifact(a))
    return "\n".join(lines)


def _dims(dims: list[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _row(key: str, value: object) -> str:
    return f"  {key:<10}  {value}"


def _artifact(a: dict[str, Any]) -> list[str]:
    if not a["exists"]:
        return [f"{a['path']} ({a['format']}): MISSING (named in the manifest)"]
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
            for t in m[kind] or []:
                out.append(_row(kind[:-1], f"{t['name']} {_dims(t['dims'])} {t['dtype']}"))
        how = m["exporter"] + (f", opset {m['opset']}" if m["opset"] is not None else "")
        out.append(_row("exporter", how))
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
        out.append(_row("lint", "clean" if not a["lint"] else f"{len(a['lint'])} problem(s)"))
        out.extend(_row("", f"{p['rule']}: {p['message']}") for p in a["lint"])
    return out


def _match(a: dict[str, Any], m: dict[str, Any] | None) -> str:
    if not m:
        return ""
    return " (matches the manifest)" if m["sha256"] == a["sha256"] else \
        f" (MISMATCH: the manifest says {m['sha256']})"


def _parity(p: dict[str, Any]) -> str:
    verdict = {True: "PASS", False: "FAIL"}.get(p["passed"], "unknown")
    vac = p.get("vacuous")
    if isinstance(vac, dict) and p["passed"]:  # checks that prove nothing: never a plain PASS
        rw = vac.get("random_weights")
        verdict = ("VACUOUS at these weights, proven by a random-weights copy" if
                   isinstance(rw, dict) and rw.get("passed") else
                   "VACUOUS at these weights, not proven")
    text = f"{verdict}, {p['checks']} checks at atol {p['atol']} rtol {p['rtol']}"
    w = p.get("worst")
    if w:
        shape = "x".join(str(d) for d in w["shape"])
        text += (f"; worst {w['backend']} {w['case']} {shape}: max_abs {sci(float(w['max_abs']))}"
                 f", needs atol {sci(float(w['needed_atol']))}")
    return text


__all__ = ["inspect_json", "inspect_text"]
