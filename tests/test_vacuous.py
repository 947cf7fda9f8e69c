"""Parity checks that prove nothing: a block that its weights make trivial (GCT at its paper's
initialisation is the identity) is also judged through a random-weights copy, and its own
checks are never reported as a plain PASS (check/vacuous.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from chanattn_export import api
from chanattn_export.check.cases import make_cases
from chanattn_export.check.vacuous import (
    SUFFIX,
    eager_outputs,
    random_weights_copy,
    vacuity,
)
from chanattn_export.cli import main
from chanattn_export.registry import build_model, list_models, make_spec
from chanattn_export.spec import InputSpec, Tolerance

SMALL = {"channels": 8, "height": 6, "width": 6}
SMALL_ARGS = ["--channels", "8", "--height", "6", "--width", "6"]
INP = InputSpec(height=6, width=7)


def _why(net: torch.nn.Module, name: str, channels: int = 8) -> str | None:
    spec = make_spec(name, channels)
    cases = make_cases(spec, INP, 0)
    return vacuity(cases, eager_outputs(net, cases, spec, INP), Tolerance())


def test_only_gct_is_trivial_at_its_default_weights() -> None:
    trivial = {m.name: _why(build_model(make_spec(m.name, 8)), m.name) for m in list_models()}
    assert {n for n, why in trivial.items() if why} == {"gct"}
    assert trivial["gct"].startswith("is the identity")


def test_zero_weights_make_a_fixed_gate_or_a_constant_output() -> None:
    """SE with zero weights is 0.5 * x; the tutorial gate-only block outputs 0.5 everywhere."""
    for name, want in (("se", "multiplies its input by a fixed gate"),
                       ("cbam-channel-gate", "ignores its input")):
        net = build_model(make_spec(name, 8))
        with torch.no_grad():
            for p in net.parameters():
                p.zero_()
        assert (_why(net, name) or "").startswith(want), name


def test_a_random_weights_copy_is_not_trivial_and_leaves_the_original_alone() -> None:
    net = build_model(make_spec("gct", 8))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    twin = random_weights_copy(net)
    assert _why(twin, "gct") is None
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert random_weights_copy(build_model(make_spec("simam", 8))) is None  # nothing to draw


def test_gct_export_is_proven_through_random_weights(tmp_path: Path, capsys) -> None:
    code = main(["onnx", "--model", "gct", *SMALL_ARGS, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = {ln.split()[1] + (" (random weights)" if SUFFIX.strip() in ln else ""):
            ln.split()[-1] for ln in out.splitlines() if ln.startswith("gct-")}
    # the default runtimes: onnxruntime, and onnx.reference on inputs this small
    assert rows == {"onnxruntime-cpu": "VACUOUS", f"onnxruntime-cpu{SUFFIX}": "PASS",
                    "onnx-reference-cpu": "VACUOUS", f"onnx-reference-cpu{SUFFIX}": "PASS"}
    assert "VACUOUS gct-nchw-c8-6x6.onnx: parity at these weights proves nothing: the block " \
           "is the identity" in out
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    vac = entry["parity"]["vacuous"]
    assert vac["random_weights"]["passed"] is True and vac["random_weights"]["checks"] > 0
    assert entry["status"] == "passed"
    plain = [c for c in entry["parity"]["checks"] if not c["backend"].endswith(SUFFIX)]
    assert plain and all(c["max_abs"] == 0 for c in plain)  # the checks that prove nothing

    # a re-check marks the rows again and carries the export-time proof forward
    assert main(["parity", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    checks = vac["random_weights"]["checks"]
    assert " VACUOUS" in out and f"PASS ({checks} checks, at export time, recorded" in out
    assert main(["inspect", str(tmp_path)]) == 0
    assert "VACUOUS at these weights, proven by a random-weights copy" in capsys.readouterr().out


def test_an_exporter_that_drops_the_block_no_longer_passes(tmp_path: Path,
                                                           monkeypatch) -> None:
    """The point of it all: at GCT's default weights, a graph without the block matches eager
    exactly; only the random-weights copy shows that the graph does not compute GCT."""
    from chanattn_export.export import onnx as onnx_export

    real = onnx_export.export_onnx_bytes

    class Dropped(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 1.0

    monkeypatch.setattr(onnx_export, "export_onnx_bytes",
                        lambda net, spec, *a, **k: real(Dropped(), spec, *a, **k))
    res = api.export_onnx("gct", out=tmp_path, **SMALL)
    plain = [c for c in res.parity.checks if not c.backend.endswith(SUFFIX)]
    assert plain and all(c.passed and c.max_abs == 0 for c in plain)  # vacuous: all "pass"
    assert not res.passed
    assert res.parity.failures and all(c.backend.endswith(SUFFIX) for c in res.parity.failures)
    assert not (tmp_path / "manifest.json").exists()  # a failed export is not written
    assert res.localized is not None and "only the copy with random weights fails" in \
        res.localized.reason  # the file at hand has nothing to localise


def test_a_vacuous_entry_without_a_recorded_proof_is_a_warning(tmp_path: Path,
                                                               capsys) -> None:
    """An older manifest (no random-weights record): verify warns, --strict fails."""
    api.export_onnx("gct", out=tmp_path, **SMALL)
    m = json.loads((tmp_path / "manifest.json").read_text())
    del m["artifacts"][0]["parity"]["vacuous"]
    m["artifacts"][0]["parity"]["checks"] = [
        c for c in m["artifacts"][0]["parity"]["checks"] if not c["backend"].endswith(SUFFIX)]
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    assert main(["verify", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "warning: parity at these weights proves nothing" in out
    assert "not proven: no random-weights check recorded" in out
    assert main(["verify", str(tmp_path), "--strict"]) == 1
    capsys.readouterr()
    assert main(["parity", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert " VACUOUS" in out and " PASS" not in out


def test_report_page_never_shows_a_vacuous_check_as_pass(tmp_path: Path) -> None:
    api.export_onnx("gct", out=tmp_path / "art", **SMALL)
    page = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "art"), "--out", str(page)]) == 0
    html = page.read_text()
    n_plain = len([c for c in json.loads((tmp_path / "art" / "manifest.json").read_text())
                   ["artifacts"][0]["parity"]["checks"] if not c["backend"].endswith(SUFFIX)])
    assert html.count(">VACUOUS<") == n_plain
    assert "proven with random weights" in html and "parity at these weights" in html


def test_real_blocks_are_untouched(tmp_path: Path) -> None:
    """A block whose checks prove something gets no record and no extra rows."""
    res = api.export_onnx("se", out=tmp_path, **SMALL)
    assert res.passed and res.parity.vacuous is None
    assert not [c for c in res.parity.checks if c.backend.endswith(SUFFIX)]
    assert np.isfinite(max(c.max_abs for c in res.parity.checks))


def test_a_reduced_precision_file_of_a_vacuous_block_is_marked_not_proven(tmp_path: Path,
                                                                         capsys) -> None:
    code = main(["onnx", "--model", "gct", *SMALL_ARGS, "--precision", "fp16",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert " VACUOUS" in out and " PASS" not in out
    assert "not proven: no random-weights check for reduced-precision files yet" in out
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    assert entry["parity"]["vacuous"]["random_weights"] is None
