"""The CLI end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import tutorial_reference as tut
from safetensors.numpy import load_file

SMALL = ["--channels", "8", "--height", "6", "--width", "6"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # warnings must be silenced by us
    return subprocess.run([sys.executable, "-m", "chanattn_export", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def _one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in p.stderr
    assert lines[-1].startswith("error: ")
    assert all(not ln.startswith("error") for ln in lines[:-1])
    return lines[-1]


def test_default_onnx_matches_the_tutorial_block_in_plain_onnxruntime(tmp_path: Path) -> None:
    p = run("onnx", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "PASS" in p.stdout and "Traceback" not in p.stderr
    assert "warn" not in p.stderr.lower(), p.stderr
    out = tmp_path / "artifacts"
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = manifest["artifacts"]
    assert entry["path"] == "cbam-channel-nchw-c64-r16-56x56.onnx"
    weights = load_file(str(out / entry["weights"]))
    # The tutorial's own class, loaded from our weights file: an independent computation.
    ref = tut.UseAttentionModel(64).eval()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    sess = ort.InferenceSession(str(out / entry["path"]), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        x = np.random.default_rng(n).standard_normal((n, 64, 56, 56)).astype(np.float32)
        (y,) = sess.run(None, {"input": x})
        with torch.no_grad():
            expected = ref(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_torchscript_command(tmp_path: Path) -> None:
    p = run("torchscript", "--model", "eca", "--layout", "nhwc", *SMALL, "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "torchscript-cpu" in p.stdout and "PASS" in p.stdout
    assert "warn" not in p.stderr.lower(), p.stderr
    m = torch.jit.load(str(tmp_path / "eca-nhwc-c8-6x6.pt"))
    assert tuple(m(torch.randn(4, 6, 6, 8)).shape) == (4, 6, 6, 8)


def test_all_then_parity_dir(tmp_path: Path) -> None:
    # Three models keep this fast (test_export covers every model x layout x format); fca
    # checks that --dynamic-hw leaves a fixed-H x W model at its fixed size.
    models = ("se", "fca", "ge")
    p = run("all", *SMALL, "--dynamic-hw", "--models", ",".join(models), "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "[12/12] " in p.stderr and "\r" not in p.stderr  # per-artifact progress, log-safe
    entries = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    assert len(entries) == 3 * 2 * 2
    assert {(e["model"]["name"], e["model"]["layout"], e["format"]) for e in entries} == {
        (m, lay, f) for m in models for lay in ("nchw", "nhwc") for f in ("onnx", "torchscript")}
    assert {e["model"]["name"] for e in entries if e["input"]["dynamic_hw"]} == {"se", "ge"}
    assert all(e["status"] == "passed" for e in entries)
    p = run("parity", str(tmp_path), "--trust-torchscript")
    assert p.returncode == 0, p.stderr
    # each artifact: judged against its stored evidence, and its block rebuilt from the weights
    assert p.stdout.count("PASS") == 24 and p.stdout.count(" vs stored ") == 12
    assert "[12/12] checking parity of" in p.stderr


def test_all_defaults_to_every_registered_model(monkeypatch, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from chanattn_export import cli, list_models
    from chanattn_export.cli import export as export_cmds

    seen = []

    def fake_export(fmt, ns, model, layout, note=None):
        seen.append((model, layout, str(fmt)))
        return SimpleNamespace(path=tmp_path / model, parity=None, lint=(), localized=None,
                               repro_path=None)

    monkeypatch.setattr(export_cmds, "_export", fake_export)
    monkeypatch.setattr("chanattn_export.render.folder.export_line", lambda res: "")
    monkeypatch.setattr(export_cmds, "print_parity", lambda items: True)
    assert cli.main(["all", "--out", str(tmp_path)]) == 0
    assert len(seen) == len(list_models()) * 4
    assert {m for m, _, _ in seen} == {m.name for m in list_models()}
    assert cli.main(["all", "--models", "se,nope", "--out", str(tmp_path)]) == 2


def test_failed_parity_exits_1_and_names_backend_batch_case(tmp_path: Path) -> None:
    assert run("onnx", "--model", "cbam", *SMALL, "--out", str(tmp_path)).returncode == 0
    p = run("onnx", "--model", "cbam", *SMALL, "--atol", "0", "--rtol", "0",
            "--out", str(tmp_path))
    assert p.returncode == 1, p.stderr
    fail = [ln for ln in p.stdout.splitlines() if ln.startswith("FAIL ")]
    assert fail and "backend=onnxruntime-cpu" in fail[0] and "batch=" in fail[0]
    assert "input=" in fail[0] and "needs atol" in fail[0]
    assert "not written" in p.stdout  # the passing artifact of that name stays in place
    entry = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][0]
    assert entry["status"] == "passed"
    # A re-check judges at the command line's tolerance, or the defaults: never at one stored in
    # the manifest (an attacker could store 1e9 there).
    assert run("parity", str(tmp_path), "--atol", "0", "--rtol", "0").returncode == 1
    entry = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][0]
    assert entry["status"] == "failed"  # parity DIR records the re-check's verdict
    assert run("parity", str(tmp_path)).returncode == 0
    assert run("parity", str(tmp_path), "--atol", "1e-3").returncode == 0


def test_weights_option(tmp_path: Path) -> None:
    ckpt = tmp_path / "tutorial.pth"
    torch.manual_seed(0)
    torch.save(tut.UseAttentionModel(40).state_dict(), ckpt)
    p = run("onnx", "--channels", "40", "--height", "5", "--width", "5", "--weights", str(ckpt),
            "--out", str(tmp_path / "a"))
    assert p.returncode == 0, p.stderr
    line = _one_error_line(run("onnx", "--weights", str(ckpt), "--out", str(tmp_path / "b")))
    # the hidden width follows the file (2); what is left is the real mismatch, C = 40 vs 64
    assert "wrong shapes: channel_attention.fc1.weight (model [2, 64, 1, 1], file [2, 40, 1, 1])" \
        in line
    assert not (tmp_path / "b").exists()  # bad weights create nothing


@pytest.mark.parametrize(
    "args,needle",
    [
        (["onnx", "--model", "cbam_chanel"], "did you mean 'cbam-channel'?"),
        (["onnx", "--ratio", "128"], "ratio must be in [1, channels=64]; got 128"),
        (["onnx", "--channels", "0"], "channels must be in [1,"),
        (["onnx", "--model", "eca", "--ratio", "4"], "has no reduction MLP"),
        (["onnx", "--weights", "missing.pt"], "weights file not found: missing.pt"),
        (["onnx", "--opset", "99"], "opset 99 is newer than the installed onnx"),
        (["parity", "nowhere"], "no manifest.json"),
        (["torchscript", "--height", "-1"], "height must be in [1,"),
        (["onnx", "--channels", "abc"], "argument --channels: invalid int value: 'abc'"),
        (["export"], "invalid choice: 'export'"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    line = _one_error_line(run(*args, cwd=tmp_path))
    assert needle in line
    assert not (tmp_path / "artifacts" / "manifest.json").exists()


def test_list() -> None:
    p = run("list")
    assert p.returncode == 0
    names = [ln.split()[0] for ln in p.stdout.splitlines()]
    assert names == ["cbam-channel-gate", "cbam-channel", "se", "eca", "cbam", "ese", "ceca",
                     "gc", "ge", "srm", "gct", "fca", "simam", "coord"]


def test_console_script_and_version() -> None:
    p = run("--version")
    assert p.returncode == 0 and p.stdout.startswith("chanattn_export ")


def test_all_exits_1_and_names_the_artifact_whose_parity_fails(tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    """In process: onnxruntime is made wrong for one model and layout only; `all` must say so."""
    from chanattn_export import cli, registry
    from chanattn_export.runtime.runners import OrtRunner

    one = [registry.get_model_info("se")]
    monkeypatch.setattr(registry, "list_models", lambda: one)  # 4 artifacts, not 20
    real_infer = OrtRunner.infer

    def infer(self, x):
        y = real_infer(self, x)
        meta = self.session.get_modelmeta().custom_metadata_map
        if (meta.get("chanattn_export.model"), meta.get("chanattn_export.layout")) == \
                ("se", "nhwc"):
            y = y + 1e-2
        return y

    monkeypatch.setattr(OrtRunner, "infer", infer)
    code = cli.main(["all", "--channels", "8", "--height", "4", "--width", "4",
                     "--exporter", "legacy", "--out", str(tmp_path)])  # legacy: faster
    out = capsys.readouterr().out
    assert code == 1, out
    bad = "se-nhwc-c8-r8-4x4.onnx"
    failed = {ln.split()[1].rstrip(":") for ln in out.splitlines() if ln.startswith("FAIL ")}
    assert failed == {bad}
    entries = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    assert len(entries) == 3  # a failed export is not written beside the passing ones
    assert bad not in {e["path"] for e in entries}
