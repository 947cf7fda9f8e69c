"""What an artifact is, as data: for ``inspect FILE_OR_DIR`` (text) and ``inspect --json``.

Torch-free and side-effect free: an ONNX file is parsed with onnx (protobuf, no code runs), a
TorchScript file is never loaded (it is a program: only its size, checksum and the manifest's
record of it are reported). The JSON form is the schema below, versioned; fields are only ever
added within a version.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from ..errors import ArtifactError
from ..fileio import sha256_file

SCHEMA = "chanattn_export.inspect/1"
MANIFEST = "manifest.json"
SIGNATURE_FILES = ("manifest.json.sig", "manifest.sig", "SHA256SUMS.sig", "SHA256SUMS.asc")


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
    found = [n for n in SIGNATURE_FILES if (folder / n).is_file()]
    if info["checked_with"] is not None:
        return f"unsigned: no {SIGNATURE} to check with {info['checked_with']}"
    return f"signed ({found[0]}, not a signature of this toolkit): see verify" if found \
        else "unsigned"


def inspect_path(target: str | os.PathLike[str], *, lint: bool = True,
                 public_key: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``chanattn_export.inspect/1`` record of a folder, an ``.onnx`` or a ``.pt`` file;
    with ``public_key``, the folder's signature is checked against it (``signature_info``)."""
    path = Path(target)
    if path.is_dir():
        folder, entries = path, _manifest_entries(path, required=True)
        names = [e["path"] for e in entries]
    elif path.is_file():
        folder, entries = path.parent, _manifest_entries(path.parent, required=False)
        names = [path.name]
    else:
        raise ArtifactError(f"{path}: no such file or folder")
    by_name = {e["path"]: e for e in entries}
    from ..artifacts.signing import describe_signature

    signed = describe_signature(folder, None if public_key is None else Path(public_key))
    return {
        "schema": SCHEMA,
        "target": str(path),
        "kind": "folder" if path.is_dir() else _format_of(path),
        "manifest": str(folder / MANIFEST) if entries else None,
        "signature": signature_state(folder, signed),
        "signature_info": signed,  # added in inspect/1: fields are only ever added
        "artifacts": [_artifact(folder, n, by_name.get(n), lint) for n in names],
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


def _artifact(root: Path, rel: str, entry: dict[str, Any] | None,
              lint: bool) -> dict[str, Any]:
    path = _confined(root, rel)
    fmt = _format_of(path)
    rec: dict[str, Any] = {"path": rel, "format": fmt, "exists": path.is_file()}
    if "\0escapes-the-folder" in path.parts:
        rec["error"] = "the manifest path escapes the folder; not read"
    if path.is_file():
        rec["size"] = path.stat().st_size
        rec["sha256"] = sha256_file(path)
    rec["manifest"] = _manifest_record(root, entry) if entry else None
    rec["graph"] = rec["lint"] = None
    if not path.is_file():
        return rec
    if fmt == "onnx":
        rec["graph"], rec["lint"] = _onnx_facts(path, lint)
    elif fmt in ("torchscript", "pt2"):
        rec["archive"] = _zip_facts(path)
    return rec


def _manifest_record(folder: Path, e: dict[str, Any]) -> dict[str, Any]:
    files = []
    for f in e.get("files", []):
        p = _confined(folder, f["path"])
        actual = sha256_file(p) if p.is_file() and not p.is_symlink() else None
        files.append({"path": f["path"], "role": f.get("role"), "sha256": f["sha256"],
                      "matches": actual == f["sha256"], "exists": actual is not None})
    parity = e.get("parity") or {}
    checks = parity.get("checks") or []
    worst = max(checks, key=lambda c: (not c.get("passed"), float(c.get("needed_atol", 0)),
                                       float(c.get("max_abs", 0))), default=None)
    return {
        "status": e.get("status"), "sha256": e.get("sha256"), "format": e.get("format"),
        "exporter": e.get("exporter"), "opset": e.get("opset"),
        "fallback_reason": e.get("fallback_reason"), "model": e.get("model"),
        "input": e.get("input"), "inputs": e.get("inputs"), "outputs": e.get("outputs"),
        "parity": {"passed": parity.get("passed"), "atol": parity.get("atol"),
                   "rtol": parity.get("rtol"), "checks": len(checks), "worst": worst,
                   "vacuous": parity.get("vacuous")},
        "files": files, "versions": e.get("versions"), "lint": e.get("lint"),
        "source": e.get("source", "registry"), "reference": e.get("reference"),
    }


def _onnx_facts(path: Path, lint: bool) -> tuple[dict[str, Any] | None, list | None]:
    try:
        import onnx
    except ImportError:
        return {"error": "onnx is not installed: pip install onnx"}, None
    data = path.read_bytes()
    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # untrusted bytes: DecodeError and friends
        return {"error": f"not an ONNX model: {str(e).splitlines()[0] if str(e) else e}"}, None

    def tensors(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            tt = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                    for d in tt.shape.dim]
            out.append({"name": v.name, "dims": dims,
                        "dtype": onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
                        if tt.elem_type else None})
        return out

    graph = {
        "inputs": tensors(model.graph.input), "outputs": tensors(model.graph.output),
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "nodes": len(model.graph.node),
        "metadata": {p.key: _maybe_json(p.value) for p in model.metadata_props},
    }
    problems = None
    if lint:
        from ..export.lint import lint_onnx

        problems = [p.to_dict() for p in lint_onnx(data)]
    return graph, problems


def _maybe_json(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def _zip_facts(path: Path) -> dict[str, Any]:
    """TorchScript and .pt2 files are zip archives; listing one runs nothing (never loaded)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        return {"zip": False, "error": str(e)}
    return {"zip": True, "entries": len(names),
            "code_files": sum(n.split("/")[-2:-1] == ["code"] or "/code/" in n for n in names),
            "loaded": False}


__all__ = ["SCHEMA", "inspect_path", "signature_state"]
