"""Parity in more than one ONNX runtime: onnxruntime, onnx.reference and OpenVINO (CPU, float32).

The promise of an ONNX file is to every conformant runtime. Every registered family, in both
layouts, static at 1 x 1 and dynamic (whose parity ends at 1 x 1), at C = 8, gives the eager
outputs in all three, and ``parity --runtimes onnxruntime,reference,openvino`` says so; OpenVINO
is also run on one thread, where it once returned an empty tensor instead of refusing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from chanattn_export import api
from chanattn_export.cli import main
from chanattn_export.errors import InvalidSpecError
from chanattn_export.registry import build_model, list_models

pytest.importorskip("openvino")

ALL = "onnxruntime,reference,openvino"
RUNNERS = {"onnxruntime-cpu", "onnx-reference-cpu", "openvino-cpu"}
FAMILIES = [m.name for m in list_models()]


def _one_thread_openvino(res) -> None:
    """OpenVINO with INFERENCE_NUM_THREADS=1 at the smallest sizes the file takes."""
    from chanattn_export.runtime.openvino_cpu import OpenVINORunner

    runner = OpenVINORunner(res.path.read_bytes(), threads=1)
    net = build_model(res.spec.model, res.weights_path.read_bytes())
    sizes = [(1, 1), (2, 3), (3, 5)] if res.spec.input.dynamic_hw else \
        [(res.spec.input.height, res.spec.input.width)]
    rng = np.random.default_rng(3)
    for h, w in sizes:
        x = rng.standard_normal(res.spec.model.layout.shape(2, 8, h, w)).astype(np.float32)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        got = runner.infer(x)
        assert got.shape == want.shape, (res.path.name, h, w, got.shape)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1, np.abs(x).max()))


@pytest.mark.slow
@pytest.mark.parametrize("model", FAMILIES)
def test_every_family_agrees_in_every_runtime(model: str, tmp_path: Path, capsys) -> None:
    # exported (and judged) in onnxruntime alone; `parity DIR --runtimes` then judges every file
    # in all three, at the stored cases and at rebuilt ones: one judgement per runtime, not two
    info = next(m for m in list_models() if m.name == model)
    results = []
    for layout in ("nchw", "nhwc"):
        results.append(api.export_onnx(model, channels=8, layout=layout, height=1, width=1,
                                       out=tmp_path, runtimes="onnxruntime"))
        if not info.fixed_hw:  # fca's weights are tied to its H x W
            results.append(api.export_onnx(model, channels=8, layout=layout, height=4, width=4,
                                           dynamic_hw=True, out=tmp_path,
                                           runtimes="onnxruntime"))
    for res in results:
        assert res.passed, (res.path.name, res.parity.failures[:2])
        if res.spec.input.dynamic_hw:  # its parity ran at 1 x 1 too
            assert any(c.shape[1:3] in ((1, 1), (1, 8)) or c.shape[-2:] == (1, 1)
                       for c in res.parity.checks)
        _one_thread_openvino(res)
    capsys.readouterr()
    assert main(["parity", str(tmp_path), "--runtimes", ALL]) == 0
    # simam at a static 1 x 1 is a fixed gate (no spatial variance): VACUOUS, agreeing anyway
    out = capsys.readouterr().out
    rows = [ln.split() for ln in out.splitlines() if ln.endswith(("PASS", "VACUOUS"))]
    judged = {(r[0], r[1]) for r in rows}
    assert judged == {(r.path.name, b) for r in results for b in RUNNERS}, out
    assert not [ln for ln in out.splitlines() if ln.endswith(("FAIL", "SKIP"))], out


def test_default_runs_the_reference_on_small_inputs_only(tmp_path: Path) -> None:
    small = api.export_onnx("se", channels=8, height=4, width=4, out=tmp_path)
    assert small.parity.backends() == ["onnxruntime-cpu", "onnx-reference-cpu"]
    # 3 x 64 x 32 x 32 = 196,608 elements > 2**16: the default leaves the slow reference out
    big = api.export_onnx("se", channels=64, height=32, width=32, out=tmp_path)
    assert big.parity.backends() == ["onnxruntime-cpu"] and not big.parity.skipped
    asked = api.check_parity(tmp_path, runtimes="onnxruntime,reference")
    assert all(c.parity.backends() == ["onnxruntime-cpu", "onnx-reference-cpu"] for c in asked)


def test_per_runtime_results_in_manifest_and_json(tmp_path: Path, capsys) -> None:
    res = api.export_onnx("cbam", channels=8, height=3, width=3, out=tmp_path, runtimes=ALL)
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    per = {b: [c for c in entry["parity"]["checks"] if c["backend"] == b] for b in RUNNERS}
    assert all(len(v) == len(res.parity.checks) // 3 for v in per.values())
    capsys.readouterr()
    assert main(["parity", str(tmp_path), "--runtimes", "openvino", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (art,) = doc["artifacts"]
    assert {c["backend"] for c in art["parity"]["checks"]} == {"openvino-cpu"}
    assert main(["verify", str(tmp_path), "--runtimes", ALL, "--strict"]) == 0


def test_a_runtime_not_installed_is_a_skip_never_a_pass(tmp_path: Path, monkeypatch,
                                                        capsys) -> None:
    import sys

    api.export_onnx("se", channels=8, height=4, width=4, out=tmp_path)
    monkeypatch.setitem(sys.modules, "openvino", None)
    capsys.readouterr()
    # asked for and missing: one SKIP line, and the command fails (nothing proven there)
    assert main(["parity", str(tmp_path), "--runtimes", "onnxruntime,openvino"]) == 1
    out = capsys.readouterr().out
    skips = [ln for ln in out.splitlines() if ln.startswith("SKIP")]
    assert skips == ["SKIP se-nchw-c8-r8-4x4.onnx: openvino-cpu not checked: openvino is not "
                     "installed (pip install 'chanattn_export[openvino]') (asked for with "
                     "--runtimes)"]
    assert "openvino-cpu" not in out.split("SKIP")[0]  # no row, so no PASS
    # only a missing runtime: no check at all is no pass
    checks = api.check_parity(tmp_path, runtimes="openvino")
    assert not checks[0].parity.checks and not checks[0].parity.passed
    from chanattn_export.check.verify import verify_folder

    problems = [str(p) for p in verify_folder(tmp_path, runtimes="onnxruntime,openvino")]
    assert any("openvino is not installed" in p for p in problems)


def test_bad_runtime_name_is_one_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:  # refused while parsing: before any export work
        main(["onnx", "--model", "se", "--runtimes", "onnxruntime,tensorrt", "--out",
              str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "runtime must be one of onnxruntime, reference, openvino; got 'tensorrt'" in err
    assert not tmp_path.joinpath("manifest.json").exists()
    from chanattn_export.check.verify import verify_folder

    with pytest.raises(InvalidSpecError, match="runtimes must name at least one of"):
        verify_folder(tmp_path, runtimes=" , ")  # the API says so too, before reading a file


def _old_pool_graph(h: int | str, w: int | str) -> bytes:
    """The strided max as the exporter once wrote it: MaxPool (4, 4, 1), ceil_mode, over an
    [N, 1, H, W, C] view, then ReduceMax: valid ONNX at any size, but its window is wider than
    an H or W below 4, which OpenVINO 2026.4 refuses (or, on one thread, empties)."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Unsqueeze", ["input", "one"], ["v"]),
        helper.make_node("MaxPool", ["v"], ["p"], kernel_shape=[4, 4, 1], strides=[4, 4, 1],
                         ceil_mode=1),
        helper.make_node("ReduceMax", ["p", "axes"], ["output"], keepdims=0),
    ]
    inits = [helper.make_tensor("one", TensorProto.INT64, [1], [1]),
             helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3])]
    graph = helper.make_graph(
        nodes, "old", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", h, w, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _judge_old(data: bytes, runners) -> object:
    from chanattn_export.check.parity import InputCase, judge, measure_usable
    from chanattn_export.spec import Tolerance

    x = np.random.default_rng(0).standard_normal((2, 2, 2, 8)).astype(np.float32)
    diffs, skips = measure_usable(None, runners, [InputCase("random", x)],
                                  outputs=[x.max((1, 2))])
    return judge(diffs, Tolerance(), 0, skips)


def test_a_runtime_refusing_the_file_fails_it_with_the_reason() -> None:
    from chanattn_export.render.parity import failure_lines
    from chanattn_export.runtime import runners_for
    from chanattn_export.spec import Format

    data = _old_pool_graph(2, 2)  # static 2 x 2: OpenVINO refuses to compile it
    from chanattn_export.runtime.validation import Expected

    report = _judge_old(data, runners_for(Format.ONNX, data, None, Expected(), runtimes=ALL))
    assert {c.backend: c.passed for c in report.checks} == {
        "onnxruntime-cpu": True, "onnx-reference-cpu": True, "openvino-cpu": False}
    (line,) = failure_lines("old.onnx", report)
    assert line == ("FAIL old.onnx: backend=openvino-cpu input=random shape=2x2x2x8: cannot "
                    "compile the model: Kernel after dilation has size (dim: 4) larger than the "
                    "data shape after padding (dim: 2) at axis 0.; Conversion is failed for: "
                    "MaxPool-18, ReduceMax-18")


def test_an_empty_output_on_one_thread_fails(tmp_path: Path) -> None:
    # In a child process: OpenVINO may crash outright on such a graph.
    import subprocess
    import sys

    script = f"""
import sys; sys.path[:0] = {[str(Path(__file__).parent)]!r}
from test_runtimes import _judge_old, _old_pool_graph
from chanattn_export.runtime.openvino_cpu import OpenVINORunner
rep = _judge_old(data := _old_pool_graph("h", "w"), [OpenVINORunner(data, threads=1)])
(c,) = rep.checks
print(c.passed, c.shape)
"""
    from reliability_helpers import child_env

    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=child_env())
    # the parity check fails on the empty (0, C) answer (or the child crashes): never a pass
    assert proc.returncode < 0 or proc.stdout.startswith("False"), proc.stdout + proc.stderr


def test_all_judges_its_onnx_files_in_the_runtimes_asked(tmp_path: Path, capsys) -> None:
    code = main(["all", "--models", "se", "--channels", "8", "--height", "4", "--width", "4",
                 "--runtimes", "openvino", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr()
    entries = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    seen = {e["format"]: {c["backend"] for c in e["parity"]["checks"]} for e in entries}
    assert seen == {"onnx": {"openvino-cpu"}, "torchscript": {"torchscript-cpu"}}
