"""Parity evidence in ONNX's own test-data layout (``--save-test-data``).

Beside each ONNX artifact ``<stem>.onnx`` of a folder this writes ``<stem>.test_data/``: a copy
of the model as ``model.onnx`` and one ``test_data_set_<i>/`` per parity case holding
``input_0.pb`` and ``output_0.pb``, each a serialized ``onnx.TensorProto`` named after the
graph's input or output. That is the layout of the ONNX model zoo and of ONNX's backend tests,
which onnxruntime's ``onnx_test_runner`` and ``onnx.backend.test`` loaders read, so the artifact
can be re-checked without this package. The cases are the artifact's stored evidence file (the
parity inputs and eager outputs every check judges by; a manifest from before evidence files:
the parity cases of the block rebuilt from its weights); the comparison tolerance is the
reader's (docs/runtimes.md gives ours).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import TMP_PREFIX, ArtifactFolder, FileRecord, ManifestEntry
from ..artifacts.evidence import decode_reference
from ..artifacts.folder import MAX_FILE_BYTES
from ..errors import ArtifactError, MissingDependencyError
from ..fileio import sha256_bytes
from ..fileio.bounded import read_bounded
from ..spec import INPUT_NAME, OUTPUT_NAME, Format
from .cases import make_cases
from .parity import InputCase

SUFFIX = ".test_data"
MODEL = "model.onnx"


@dataclass(frozen=True)
class SavedTestData:
    artifact: str
    folder: Path  # <stem>.test_data/, beside the artifact
    sets: int  # test_data_set_0 .. sets - 1


def folder_for(folder: str | os.PathLike[str], artifact: str) -> Path:
    """Where the test data of ``artifact`` (a path in the manifest) goes."""
    return Path(folder) / (Path(artifact).stem + SUFFIX)


def save_test_data(folder: str | os.PathLike[str], paths: Sequence[str] | None = None, *,
                   seed: int = 0) -> list[SavedTestData]:
    """Write the test data of every ONNX entry of ``folder`` (of those in ``paths``)."""
    art = ArtifactFolder(folder)
    saved = []
    for entry in art.read_manifest(missing_ok=False).entries:
        if entry.format is not Format.ONNX or (paths is not None and entry.path not in paths):
            continue
        model = _checked(art, entry.model_file, "model file")
        cases, outputs = _evidence(art, entry, seed)
        dest = folder_for(art.root, entry.path)
        write_test_data(dest, model, cases, outputs, _name(entry.inputs, INPUT_NAME),
                        _name(entry.outputs, OUTPUT_NAME))
        saved.append(SavedTestData(entry.path, dest, len(cases)))
    return saved


def write_test_data(dest: Path, model: bytes, cases: Sequence[InputCase],
                    outputs: Sequence[np.ndarray], input_name: str = INPUT_NAME,
                    output_name: str = OUTPUT_NAME) -> None:
    """``dest/model.onnx`` and ``dest/test_data_set_<i>/{input_0,output_0}.pb``, replacing an
    older ``dest`` whole: built in a temporary folder beside it, then renamed into place."""
    try:
        from onnx import numpy_helper
    except ImportError:
        raise MissingDependencyError("--save-test-data writes ONNX TensorProtos and needs onnx: "
                                     "pip install onnx") from None
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "test-data.", dir=dest.parent))
    try:
        (tmp / MODEL).write_bytes(model)
        for i, (case, y) in enumerate(zip(cases, outputs, strict=True)):
            d = tmp / f"test_data_set_{i}"
            d.mkdir()
            (d / "input_0.pb").write_bytes(
                numpy_helper.from_array(np.ascontiguousarray(case.x), input_name)
                .SerializeToString())
            (d / "output_0.pb").write_bytes(
                numpy_helper.from_array(np.ascontiguousarray(y), output_name).SerializeToString())
        old = None
        if dest.exists() or dest.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "old-test-data.", dir=dest.parent))
            os.replace(dest, old / "x")
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise


def _checked(art: ArtifactFolder, record: FileRecord, what: str) -> bytes:
    """A file as the manifest describes it (bounded read, sha256 checked before any use)."""
    data = read_bounded(art.resolve(record.path), min(record.size or MAX_FILE_BYTES,
                                                      MAX_FILE_BYTES), what)
    if sha256_bytes(data) != record.sha256:
        raise ArtifactError(f"{record.path}: sha256 differs from the manifest")
    return data


def _evidence(art: ArtifactFolder, entry: ManifestEntry,
              seed: int) -> tuple[list[InputCase], list[np.ndarray]]:
    """The stored evidence's cases and outputs; for an entry without an evidence file, the
    parity cases of ``seed`` and the outputs of the block rebuilt from its weights file."""
    if entry.reference is not None:
        record = next(f for f in entry.files if f.path == entry.reference)
        ref = decode_reference(_checked(art, record, "evidence file"))
        return ([InputCase(n, x) for n, x in zip(ref.names, ref.inputs, strict=True)],
                list(ref.outputs))
    from ..registry import build_model
    from ..runtime import EagerRunner

    runner = EagerRunner(build_model(entry.model, _checked(art, entry.weights_file, "weights")))
    cases = make_cases(entry.model, entry.input, seed)
    return cases, [runner.infer(c.x) for c in cases]


def _name(records: Sequence[dict], default: str) -> str:
    name = records[0].get("name") if records else None
    return name if isinstance(name, str) and name else default


__all__ = [
    "MODEL",
    "SUFFIX",
    "SavedTestData",
    "folder_for",
    "save_test_data",
    "write_test_data",
]
