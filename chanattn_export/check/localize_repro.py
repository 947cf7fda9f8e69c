"""The repro of a divergence: the diverging subgraph and its inputs, as a bug-report folder.

Laid out as an ONNX backend test case, which ``onnx``'s and onnxruntime's test runners read::

    <folder>/model.onnx                    the cut: from the agreeing values to the node
    <folder>/test_data_set_0/input_K.pb    eager values of its inputs (TensorProto, named)
    <folder>/test_data_set_0/output_0.pb   the eager value the node should produce
    <folder>/divergence.json               what localisation found

The folder is written beside its final path and renamed into place, so a half-written repro
never appears.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError

MODEL, DATA, REPORT = "model.onnx", "test_data_set_0", "divergence.json"


def write_repro(folder: str | os.PathLike[str], sub: Any, inputs: dict[str, np.ndarray],
                expected: np.ndarray, report: dict[str, Any]) -> Path:
    """Write the repro folder (replacing an older one); returns its path."""
    from onnx import numpy_helper

    target = Path(folder)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        raise ArtifactError(f"{target}: cannot write the repro: {e.strerror or e}") from None
    try:
        (tmp / MODEL).write_bytes(sub.SerializeToString(deterministic=True))
        (tmp / DATA).mkdir()
        for i, name in enumerate(i.name for i in sub.graph.input):
            tensor = numpy_helper.from_array(np.ascontiguousarray(inputs[name]), name)
            (tmp / DATA / f"input_{i}.pb").write_bytes(tensor.SerializeToString())
        out = numpy_helper.from_array(np.ascontiguousarray(expected), sub.graph.output[0].name)
        (tmp / DATA / "output_0.pb").write_bytes(out.SerializeToString())
        (tmp / REPORT).write_text(json.dumps(report, indent=2) + "\n")
        for p in [tmp, *tmp.rglob("*")]:  # mkdtemp makes 0700: the folder is for sharing
            p.chmod(0o755 if p.is_dir() else 0o644)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArtifactError(f"{target}: cannot write the repro: {e.strerror or e}") from None
    return target


def read_repro(folder: str | os.PathLike[str]) -> tuple[bytes, dict[str, np.ndarray], np.ndarray]:
    """The repro's model bytes, named inputs and expected output (for tests and users)."""
    from onnx import TensorProto, numpy_helper

    root = Path(folder)

    def tensor(path: Path) -> tuple[str, np.ndarray]:
        t = TensorProto()
        t.ParseFromString(path.read_bytes())
        return t.name, numpy_helper.to_array(t)

    inputs = dict(tensor(p) for p in sorted((root / DATA).glob("input_*.pb"),
                                            key=lambda p: int(p.stem.split("_")[1])))
    return (root / MODEL).read_bytes(), inputs, tensor(root / DATA / "output_0.pb")[1]
