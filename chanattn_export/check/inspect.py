"""What an artifact is, as data: for ``inspect FILE_OR_DIR`` (text) and ``inspect --json``.

Torch-free and side-effect free, for files nobody vouches for: each file is read once and
bounded (a FIFO, a device or a file larger than its manifest records is refused unread), and
only those bytes are hashed and described. An ONNX file is parsed with onnx (protobuf: data, no
code runs) and is not executed unless asked (``run_graph``: then in a child process with a wall
time and memory limit, :mod:`.graph_run`); a TorchScript file is never loaded (it is a program:
only its size, checksum, zip listing and the manifest's record of it are reported). The JSON
form is the schema below, versioned; fields are only ever added within a version.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..artifacts.fields import parity_summary
from ..artifacts.folder import MAX_FILE_BYTES
from ..errors import ArtifactError
from ..fileio import sha256_bytes
from ..fileio.bounded import read_bounded, sha256_bounded
from .inspect_graph import onnx_facts, zip_facts

SCHEMA = "chanattn_export.inspect/1"
MANIFEST = "manifest.json"
SIGNATURE_FILES = ("signature.json", "manifest.json.sig", "manifest.sig", "SHA256SUMS.sig",
                   "SHA256SUMS.asc")


def signature_state(folder: Path, info: dict[str, Any] | None = None) -> str:
    """One line on the folder's signature: who signed (the key's fingerprint) and, when a
    public key was given (``info`` from :func:`describe_signature`), whether it still matches;
    a detached signature of another tool is only named; else "unsigned"."""
    from ..artifacts.signing import SIGNATURE, describe_signature

    info = describe_signature(folder) if info is None else info
    if info["present"]:
        if not info["usable"]:
            return f"{SIGNATURE} present but unusable: {info['reason']}"
        who = (f"signed by key {info['key_sha256']}" if info["key_sha256"] else
               f"signed ({SIGNATURE}, an older format without the key's fingerprint)")
        if info["checked_with"] is None:
            return f"{who}; not checked (inspect --public-key PUB, or verify --public-key PUB)"
        if info["valid"]:
            return f"{who}; valid with {info['checked_with']}"
        more = len(info["problems"]) - 1
        return (f"{who}; DOES NOT MATCH {info['checked_with']}: {info['problems'][0]}"
                + (f" (and {more} more)" if more else ""))
    found = [n for n in SIGNATURE_FILES if n != SIGNATURE and (folder / n).is_file()]
    if info["checked_with"] is not None:
        return f"unsigned: no {SIGNATURE} to check with {info['checked_with']}"
    return f"signed ({found[0]}, not a signature of this toolkit): see verify" if found \
        else "unsigned"


def inspect_path(target: str | os.PathLike[str], *, lint: bool = True,
                 run_graph: float | None = None,
                 public_key: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``chanattn_export.inspect/1`` record of a folder, an ``.onnx`` or a ``.pt`` file.

    Every file is read once, bounded (a model file by the size its manifest records), and only
    those bytes are hashed, parsed and listed. ``lint`` runs the graph lint's static rules;
    the graph itself runs only with ``run_graph`` (seconds): then the unseen-shape rule runs
    it in a child process limited to that wall time and :data:`.graph_run.MEMORY_BYTES`.
    With ``public_key``, the folder's signature is checked against it (``signature_info``).
    """
    path = Path(target)
    if path.is_dir():
        folder, entries = path, _manifest_entries(path, required=True)
        names = [e["path"] for e in entries]
    elif os.path.lexists(path):
        folder, entries = path.parent, _manifest_entries(path.parent, required=False)
        names = [path.name]
    else:
        raise ArtifactError(f"{path}: no such file or folder")
    by_name = {e["path"]: e for e in entries}
    given = None if path.is_dir() else path  # the user named it: no manifest confinement
    arts = [_artifact(folder, n, by_name.get(n), lint, run_graph, given) for n in names]
    if not path.is_dir() and arts[0].get("sha256") is None:  # the one file asked about
        raise ArtifactError(arts[0].get("error") or f"{path}: cannot read it")
    from ..artifacts.signing import describe_signature

    signed = describe_signature(folder, None if public_key is None else Path(public_key))
    return {
        "schema": SCHEMA,
        "target": str(path),
        "kind": "folder" if path.is_dir() else _format_of(path),
        "manifest": str(folder / MANIFEST) if entries else None,
        "signature": signature_state(folder, signed),
        "signature_info": signed,  # added in inspect/1: fields are only ever added
        "graph_run": run_graph if lint else None,  # seconds the graph could run; None: not run
        "artifacts": arts,
    }


def _confined(folder: Path, rel: str) -> Path:
    """``folder/rel``; a manifest path escaping the folder names nothing (reported missing)."""
    from ..artifacts import ArtifactFolder

    try:
        return ArtifactFolder(folder).resolve(rel)
    except ArtifactError:
        return folder / "\0escapes-the-folder" / Path(rel).name


def _manifest_entries(folder: Path, required: bool) -> list[dict[str, Any]]:
    from ..artifacts import ArtifactFolder

    if not (folder / MANIFEST).is_file() and not required:
        return []
    return [e.to_dict() for e in ArtifactFolder(folder).read_manifest(missing_ok=False).entries]


def _format_of(path: Path) -> str:
    return {".onnx": "onnx", ".pt": "torchscript", ".pt2": "pt2"}.get(path.suffix, "unknown")


def _recorded_size(entry: dict[str, Any] | None, rel: str) -> int:
    size = next((f.get("size") for f in (entry or {}).get("files", []) if f["path"] == rel),
                None)
    return size if isinstance(size, int) else MAX_FILE_BYTES


def _artifact(root: Path, rel: str, entry: dict[str, Any] | None, lint: bool,
              run_graph: float | None, given: Path | None = None) -> dict[str, Any]:
    path = given or _confined(root, rel)
    fmt = _format_of(path)
    rec: dict[str, Any] = {"path": rel, "format": fmt, "exists": os.path.lexists(path)}
    data = None
    if "\0escapes-the-folder" in path.parts:
        rec["exists"] = False
        rec["error"] = "the manifest path escapes the folder; not read"
    elif rec["exists"]:
        try:  # the one read of this file: hashed, parsed and listed from these bytes only
            data = read_bounded(path, _recorded_size(entry, rel), "model file")
        except ArtifactError as e:
            rec["error"] = str(e)
    if data is not None:
        rec["size"], rec["sha256"] = len(data), sha256_bytes(data)
    rec["manifest"] = _manifest_record(root, entry, rel, rec.get("sha256")) if entry else None
    rec["graph"] = rec["lint"] = None
    if data is None:
        return rec
    if fmt == "onnx":
        rec["graph"], rec["lint"] = onnx_facts(data, lint, run_graph)
    elif fmt in ("torchscript", "pt2"):
        rec["archive"] = zip_facts(data)
    return rec


def _manifest_record(folder: Path, e: dict[str, Any], rel: str,
                     model_sha: str | None) -> dict[str, Any]:
    """The manifest's record of ``rel``, with each listed file's checksum compared: the model's
    from the bytes already read, every other file hashed once, bounded by its recorded size."""
    files = []
    for f in e.get("files", []):
        if f["path"] == rel:
            actual = model_sha
        else:
            p = _confined(folder, f["path"])
            try:
                actual = None if p.is_symlink() else sha256_bounded(
                    p, f["size"] if isinstance(f.get("size"), int) else MAX_FILE_BYTES,
                    f.get("role") or "file")
            except ArtifactError:  # missing, a FIFO, larger than recorded: not a match
                actual = None
        files.append({"path": f["path"], "role": f.get("role"), "sha256": f["sha256"],
                      "matches": actual == f["sha256"], "exists": actual is not None})
    return {
        "status": e.get("status"), "sha256": e.get("sha256"), "format": e.get("format"),
        "exporter": e.get("exporter"), "opset": e.get("opset"),
        "fallback_reason": e.get("fallback_reason"), "model": e.get("model"),
        "input": e.get("input"), "inputs": e.get("inputs"), "outputs": e.get("outputs"),
        "parity": _parity(e.get("parity")), "files": files, "versions": e.get("versions"),
        "lint": e.get("lint"), "source": e.get("source", "registry"),
        "reference": e.get("reference"),
        "precision": (e.get("conversion") or {}).get("precision", "fp32")
        if isinstance(e.get("conversion"), dict) else "fp32",
        "conversion": e.get("conversion"),
    }


def _parity(parity: object) -> dict[str, Any]:
    """The recorded verdict; a malformed record is described (``error``), never a crash."""
    try:
        p = parity_summary(parity if parity is not None else {})
    except ArtifactError as e:
        return {"passed": None, "atol": None, "rtol": None, "checks": 0, "worst": None,
                "error": f"unreadable parity record: {e}"}
    gate = parity.get("gate") if isinstance(parity, dict) else None
    gate = gate if isinstance(gate, dict) else None
    worst = p.worst
    if gate and gate.get("bound") == "sqnr":  # int8: the worst is the lowest judged SQNR
        judged = [c for c in parity.get("checks") or []  # type: ignore[union-attr]
                  if isinstance(c, dict) and c.get("judged", True)
                  and isinstance(c.get("sqnr_db"), int | float)]
        worst = min(judged, key=lambda c: (bool(c.get("passed")), float(c["sqnr_db"])),
                    default=worst)
    vacuous = parity.get("vacuous") if isinstance(parity, dict) else None
    return {"passed": p.passed, "atol": p.atol, "rtol": p.rtol, "checks": p.checks,
            "worst": worst, "gate": gate,
            "vacuous": vacuous if isinstance(vacuous, dict) else None}


__all__ = ["SCHEMA", "inspect_path", "signature_state"]
