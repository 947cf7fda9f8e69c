"""Prove an artifact folder against its manifest, collecting every problem instead of stopping.

For each manifest entry: the paths stay inside the folder, every file exists and has the
manifest's sha256 (checked *before* anything parses it, so a swapped TorchScript file is never
loaded), the model loads (onnx.checker + onnxruntime, or torch.jit.load), and a quick parity
check against the eager model rebuilt from the manifest's spec and the *weights file* passes.
The result is data (:class:`Problem` records); printing is the CLI's job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import (
    MANIFEST,
    TMP_PREFIX,
    ArtifactFolder,
    entry_problem,
    parse_manifest,
    sha256_bytes,
)
from .errors import ArtifactError, ChanAttnError, InvalidSpecError
from .spec import Format, InputSpec, ModelSpec, Tolerance

ERROR, WARNING = "error", "warning"
QUICK_CASES = ("random", "large", "saturate")
ARTIFACT_SUFFIXES = (".onnx", ".pt", ".safetensors")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file of the folder (``path`` is relative to the folder)."""

    path: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        tag = "" if self.severity == ERROR else f"{self.severity}: "
        return f"{self.path}: {tag}{self.message}"


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)


def verify_folder(out: str | os.PathLike[str], *, tolerance: Tolerance | None = None,
                  seed: int = 0, progress: Callable[[str], None] | None = None) -> list[Problem]:
    """Every problem of the folder ``out``; an empty list means every artifact was proven."""
    say = progress or (lambda _msg: None)
    folder = ArtifactFolder(out)
    if not folder.root.is_dir():
        return [Problem(str(folder.root), "no such folder")]
    manifest, problems = _read_manifest(folder)
    if manifest is None:
        return problems
    file_cache: dict[str, bytes | None] = {}
    named: set[str] = set()
    for i, entry in enumerate(manifest["artifacts"]):
        label = entry.get("path") if isinstance(entry, dict) else None
        say(f"verifying {label or f'artifacts[{i}]'} ...")
        problems.extend(_verify_entry(folder, i, entry, file_cache, named, tolerance, seed))
    problems.extend(_stray_files(folder, named))
    return problems


def _read_manifest(folder: ArtifactFolder) -> tuple[dict[str, Any] | None, list[Problem]]:
    path = folder.manifest_path
    if not path.is_file():
        return None, [Problem(MANIFEST, "missing (not an artifact folder?)")]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return None, [Problem(MANIFEST, f"unreadable: {e}")]
    try:
        data = parse_manifest(text)
    except ArtifactError as e:
        return None, [Problem(MANIFEST, str(e))]
    if not data["artifacts"]:
        return None, [Problem(MANIFEST, "lists no artifacts")]
    return data, []


def _verify_entry(folder: ArtifactFolder, i: int, entry: Any,
                  cache: dict[str, bytes | None], named: set[str],
                  tolerance: Tolerance | None, seed: int) -> list[Problem]:
    problem = entry_problem(i, entry)
    if problem is not None:
        return [Problem(MANIFEST, problem)]
    rel = entry["path"] if isinstance(entry["path"], str) else f"artifacts[{i}]"
    files = entry["files"]
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
        for f in files
    ):
        return [Problem(MANIFEST, f"entry {rel}: 'files' must list objects with path and sha256")]
    problems: list[Problem] = []
    by_path = {f["path"]: f for f in files}
    model_file = by_path.get(rel)
    if model_file is None:
        problems.append(Problem(MANIFEST, f"entry {rel} does not list its model in 'files'"))
    elif model_file["sha256"] != entry["sha256"]:
        problems.append(Problem(MANIFEST, f"entry {rel}: two different sha256 for the model"))
    weights_rel = entry.get("weights")
    if weights_rel not in by_path or weights_rel == rel:
        problems.append(Problem(MANIFEST, f"entry {rel} names no weights file"))
    data: dict[str, bytes] = {}
    for f in files:
        got, problem = _checked_bytes(folder, f["path"], f["sha256"], cache)
        named.add(f["path"])
        if problem is not None:
            problems.append(problem)
        elif got is not None:
            data[f["path"]] = got
    if problems or rel not in data or weights_rel not in data:
        return problems  # never parse a file whose checksum did not match
    return _load_and_compare(entry, rel, data[rel], weights_rel, data[weights_rel],
                             tolerance, seed)


def _checked_bytes(folder: ArtifactFolder, rel: str, sha: str,
                   cache: dict[str, bytes | None]) -> tuple[bytes | None, Problem | None]:
    """(bytes, None) when the file matches ``sha``; each bad file is reported only once."""
    key = f"{rel}\0{sha}"
    if key in cache:
        return cache[key], None
    cache[key] = None
    try:
        path = folder.resolve(rel)
    except ChanAttnError as e:
        return None, Problem(MANIFEST, str(e))
    if not path.is_file():
        return None, Problem(rel, "missing (named in the manifest)")
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, Problem(rel, f"unreadable: {e.strerror or e}")
    if sha256_bytes(raw) != sha:
        return None, Problem(rel, f"sha256 differs from the manifest ({len(raw)} bytes on disk): "
                                  "truncated, corrupted or changed")
    cache[key] = raw
    return raw, None


def _load_and_compare(entry: dict[str, Any], rel: str, model_data: bytes, weights_rel: str,
                      weights_data: bytes, tolerance: Tolerance | None,
                      seed: int) -> list[Problem]:
    from .parity import judge, make_cases, measure
    from .registry import build_model
    from .runtime import EagerRunner
    from .validation import Expected

    try:
        spec = ModelSpec.from_dict(entry["model"])
        inp = InputSpec.from_dict(entry["input"])
        fmt = Format.parse(entry["format"], "format")
        par = entry.get("parity") or {}
        tol = tolerance or Tolerance(**{k: par[k] for k in ("atol", "rtol") if k in par})
    except (InvalidSpecError, KeyError, TypeError, AttributeError) as e:
        return [Problem(MANIFEST, f"entry {rel}: spec is invalid: {e}")]
    if Path(rel).suffix != fmt.suffix:
        return [Problem(rel, f"format {fmt} in the manifest, but the file name ends "
                             f"{Path(rel).suffix!r}")]
    expected = Expected.from_spec(spec, inp)
    problems: list[Problem] = []
    runner, problem = _load_model(fmt, rel, model_data, expected)
    if problem is not None:
        problems.append(problem)
    try:
        net = build_model(spec, weights_data)
    except ChanAttnError as e:
        problems.append(Problem(weights_rel, str(e)))
        return problems
    except Exception as e:  # safetensors raises its own error type on bad bytes
        from .export._quiet import first_line

        problems.append(Problem(weights_rel, f"not a valid safetensors file: {first_line(e)}"))
        return problems
    if runner is None:
        return problems
    cases = make_cases(spec, inp, seed, QUICK_CASES)
    try:
        report = judge(measure(EagerRunner(net, expected=expected), [runner], cases), tol, seed)
    except ChanAttnError as e:
        return [Problem(rel, f"cannot run: {e}")]
    for c in report.failures[:1]:
        why = ("output shape differs" if c.needed_atol == float("inf") and not c.nan_mismatch
               else f"{c.nan_mismatch} NaN mismatches" if c.nan_mismatch
               else f"max |diff| {c.max_abs:.3g} needs atol {c.needed_atol:.3g} > {tol.atol:g}")
        problems.append(Problem(rel, f"parity fails on {c.backend} (case {c.case}, shape "
                                     f"{list(c.shape)}): {why} (eager reference built from "
                                     f"{weights_rel})"))
    return problems


def _load_model(fmt: Format, rel: str, data: bytes, expected) -> tuple[Any, Problem | None]:
    from .export._quiet import first_line

    if fmt is Format.ONNX:
        try:
            import onnx
        except ImportError:
            return None, Problem(rel, "cannot check: onnx is not installed (pip install onnx)")
        try:
            onnx.checker.check_model(onnx.load_from_string(data))
        except Exception as e:  # DecodeError, ValidationError, ...: untrusted bytes
            return None, Problem(rel, f"not a valid ONNX model: {first_line(e)}")
        from .runtime import OrtRunner

        try:
            return OrtRunner(data, "cpu", expected=expected), None
        except ChanAttnError as e:
            return None, Problem(rel, f"cannot load: {e}")
    from .runtime import TorchScriptRunner

    try:
        return TorchScriptRunner(data, "cpu", expected), None
    except ChanAttnError as e:
        return None, Problem(rel, f"not a loadable TorchScript file: {e}")


def _stray_files(folder: ArtifactFolder, named: set[str]) -> list[Problem]:
    out = []
    for p in sorted(folder.root.iterdir()):
        if p.name.startswith(TMP_PREFIX):
            out.append(Problem(p.name, "temporary file left by an interrupted run (the next "
                                       "export removes it)", WARNING))
        elif p.suffix in ARTIFACT_SUFFIXES and p.name not in named:
            out.append(Problem(p.name, "not named in the manifest", WARNING))
    return out


__all__ = ["ERROR", "WARNING", "Problem", "has_errors", "verify_folder"]
