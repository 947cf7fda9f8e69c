"""Issue 8: the proof must not be foolable. One test (or a few) per hole, each shown to fail on
the code before its fix."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import (
    ONNX_NAME,
    PT_NAME,
    TINY,
    child_env,
    read_manifest,
    resign,
    write_manifest,
)
from test_security import _nudge_one_weight

from chanattn_export import ArtifactError, InputError, api, create_model
from chanattn_export.check.verify import WARNING, has_errors, verify_folder
from chanattn_export.cli import main
from chanattn_export.errors import WeightsError
from chanattn_export.export import onnx as onnx_mod

# -- hole 1: tolerances from the manifest are reported, never used --------------------------


def _loosen(folder: Path, value: float = 1e9) -> None:
    m = read_manifest(folder)
    for a in m["artifacts"]:
        a["parity"]["atol"] = a["parity"]["rtol"] = value
    write_manifest(folder, m)


def test_stored_loose_tolerance_is_reported_and_ignored(folder: Path, capsys) -> None:
    _loosen(folder)
    _nudge_one_weight(folder / ONNX_NAME)
    resign(folder, ONNX_NAME)
    problems = verify_folder(folder, trust_torchscript=True)
    assert has_errors(problems)
    assert any(ONNX_NAME in str(p) and "parity fails" in str(p) for p in problems)
    warned = [p for p in problems if p.severity == WARNING and "looser tolerance" in p.message]
    assert len(warned) == 2 and "atol 1e+09" in warned[0].message
    assert main(["verify", str(folder), "--trust-torchscript"]) == 1
    assert main(["parity", str(folder), "--trust-torchscript"]) == 1
    err = capsys.readouterr().err
    assert "looser tolerance" in err
    entry = next(a for a in read_manifest(folder)["artifacts"] if a["path"] == ONNX_NAME)
    assert entry["status"] == "failed"


# -- hole 2: NaN / Inf weights ------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path: Path, bad: float) -> None:
    from safetensors.torch import save_file

    net = create_model("se", channels=8)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["fc1.weight"].view(-1)[0] = bad
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match=r"tensor fc1\.weight holds NaN or Inf"):
        api.export_onnx("se", weights=tmp_path / "w.safetensors", out=tmp_path / "o", **TINY)
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_non_finite_reference_output_fails_the_case() -> None:
    from chanattn_export.check.parity import InputCase, judge, measure
    from chanattn_export.spec import Tolerance

    class NaNs:
        name = "nan-backend"

        def infer(self, x):
            return np.full_like(x, np.nan)

    x = np.ones((1, 4, 2, 2), np.float32)
    report = judge(measure(NaNs(), [NaNs()], [InputCase("random", x)]), Tolerance())
    assert not report.passed  # NaN == NaN on both sides, but the reference itself is broken
    assert report.checks[0].nonfinite_reference == x.size


def test_float64_weights_that_round_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    net = create_model("se", channels=8)
    exact = {k: v.double() for k, v in net.state_dict().items()}
    save_file(exact, str(tmp_path / "exact.safetensors"))  # float32 values: no loss, accepted
    api.export_onnx("se", weights=tmp_path / "exact.safetensors", out=tmp_path / "a", **TINY)
    lossy = {k: v + 1e-12 for k, v in exact.items()}
    save_file(lossy, str(tmp_path / "lossy.safetensors"))
    with pytest.raises(WeightsError, match="loses precision"):
        api.export_onnx("se", weights=tmp_path / "lossy.safetensors", out=tmp_path / "b", **TINY)


# -- hole 3: verify never runs code from an untrusted folder ----------------------------------

EVIL = '''
import io, sys
from typing import Tuple
import torch

class Evil(torch.nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x):
        return x

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool]:
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool]) -> None:
        self.training = state[1]
        t = torch.from_file(state[0], shared=True, size=4, dtype=torch.uint8)
        t.fill_(65)  # writes the marker file: code ran at load time
        self.path = state[0] + str(int(t.sum()))

buf = io.BytesIO()
torch.jit.save(torch.jit.script(Evil(sys.argv[1])), buf)
sys.stdout.buffer.write(buf.getvalue())
'''


@pytest.fixture(scope="module")
def evil_pt(tmp_path_factory) -> tuple[bytes, Path]:
    """A TorchScript file whose __setstate__ writes a marker file (made here, never committed)."""
    base = tmp_path_factory.mktemp("evil")
    marker = base / "marker"
    (base / "evil.py").write_text(EVIL)
    data = subprocess.run([sys.executable, str(base / "evil.py"), str(marker)],
                          capture_output=True, check=True, env=child_env()).stdout
    torch.jit.load(io.BytesIO(data))  # the fixture is real: loading it runs its code
    assert marker.read_bytes() == b"AAAA"
    marker.unlink()
    return data, marker


def _plant_evil(folder: Path, evil_pt: tuple[bytes, Path]) -> Path:
    data, marker = evil_pt
    (folder / PT_NAME).write_bytes(data)
    resign(folder, PT_NAME)  # checksums rewritten: they cannot tell who wrote the file
    return marker


def test_verify_does_not_load_torchscript_by_default(folder: Path, evil_pt) -> None:
    marker = _plant_evil(folder, evil_pt)
    problems = verify_folder(folder)
    assert not marker.exists()
    assert not has_errors(problems)
    (summary,) = [p for p in problems if "not loaded" in p.message]
    assert f"1 TorchScript file not loaded ({PT_NAME}; " in summary.message
    assert "--trust-torchscript" in summary.message
    checks = api.check_parity(folder)  # every other file is checked; the program is not run
    assert [c.skipped for c in checks if c.entry.path == PT_NAME] == ["torchscript-not-trusted"]
    assert not marker.exists()
    assert main(["parity", str(folder)]) == 0 and not marker.exists()  # a warning, as verify
    assert main(["parity", str(folder), "--strict"]) == 1 and not marker.exists()


def test_trust_torchscript_loads_it(folder: Path, evil_pt) -> None:
    """The other side of the rule: the flag really loads TorchScript (and so runs its code)."""
    marker = _plant_evil(folder, evil_pt)
    verify_folder(folder, trust_torchscript=True)
    assert marker.exists()
    marker.unlink()


# -- hole 4: signatures ---------------------------------------------------------------------


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "keys" / "signer.pem"
    key.parent.mkdir()
    assert main(["keygen", str(key)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    return key, key.with_name("signer.pem.pub")


def _signed(folder: Path, keys) -> None:
    assert main(["sign", str(folder), "--key", str(keys[0])]) == 0
    assert not list(folder.glob("*.pem*"))


def test_signed_folder_verifies_and_trusts_torchscript(folder: Path, keys, capsys) -> None:
    _signed(folder, keys)
    assert verify_folder(folder, public_key=keys[1]) == []  # no "not loaded": signature trusted
    assert main(["verify", str(folder), "--public-key", str(keys[1])]) == 0


@pytest.mark.parametrize("change", ["byte", "manifest", "added", "removed"])
def test_any_change_to_a_signed_folder_fails(folder: Path, keys, change: str) -> None:
    _signed(folder, keys)
    if change == "byte":
        _nudge_one_weight(folder / ONNX_NAME)
        resign(folder, ONNX_NAME)
        want = f"{ONNX_NAME}: changed since"
    elif change == "manifest":
        (folder / "manifest.json").write_text((folder / "manifest.json").read_text() + " ")
        want = "manifest.json: changed since"
    elif change == "added":
        (folder / "extra.onnx").write_bytes(b"x")
        want = "extra.onnx: added since"
    else:
        (folder / "SHA256SUMS").unlink()
        want = "SHA256SUMS: removed since"
    lines = [str(p) for p in verify_folder(folder, public_key=keys[1]) if p.severity != WARNING]
    assert any(line.startswith(want) for line in lines), lines


def test_consistent_attacker_passes_checksums_but_not_the_signature(folder: Path, keys,
                                                                    tmp_path: Path) -> None:
    """New weights + new model + new manifest: consistent, so only a signature catches it."""
    _signed(folder, keys)
    other = tmp_path / "other"
    api.export_onnx("cbam-channel", out=other, seed=7, **TINY)
    for p in other.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    for p in folder.glob("*.safetensors"):
        if not (other / p.name).exists() and p.name not in (folder / "manifest.json").read_text():
            p.unlink()
    assert not has_errors(verify_folder(folder, trust_torchscript=True))  # checksums: fooled
    errors = [p for p in verify_folder(folder, public_key=keys[1]) if p.severity != WARNING]
    assert errors and any("since the folder was signed" in p.message for p in errors)


def test_wrong_key_and_evil_torchscript_under_a_broken_signature(folder: Path, keys, evil_pt,
                                                                 tmp_path: Path) -> None:
    _signed(folder, keys)
    marker = _plant_evil(folder, evil_pt)
    other = tmp_path / "k2" / "other.pem"
    other.parent.mkdir()
    main(["keygen", str(other)])
    lines = [str(p) for p in verify_folder(folder, public_key=other.with_name("other.pem.pub"))]
    assert any("does not verify" in line for line in lines)
    lines = [str(p) for p in verify_folder(folder, public_key=keys[1])]
    assert any(line.startswith(f"{PT_NAME}: changed since") for line in lines)
    assert not marker.exists()  # a broken signature never makes TorchScript trusted


def test_keys_never_go_into_the_folder(folder: Path, keys, capsys) -> None:
    inside = folder / "k.pem"
    assert main(["keygen", str(inside)]) == 2 and not inside.exists()
    assert main(["sign", str(folder), "--key", str(keys[0])]) == 0
    (folder / "copied.pem").write_bytes(keys[0].read_bytes())
    assert main(["sign", str(folder), "--key", str(folder / "copied.pem")]) == 2
    assert "inside the artifact folder" in capsys.readouterr().err


# -- hole 5: an interrupt inside the exporter ---------------------------------------------


def _sigterm(*_a, **_k):
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not interrupt")


def _wrapped_sigterm(*_a, **_k):
    try:
        _sigterm()
    except KeyboardInterrupt as e:  # what torch does while importing torch._dynamo
        raise RuntimeError("torch._dynamo failed to import") from e


def _swallowed_sigterm(*_a, **_k):
    with contextlib.suppress(BaseException):  # a library swallowing it whole
        _sigterm()
    raise RuntimeError("exporter failed")


def _wrapped_ctrl_c(*_a, **_k):
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as e:
        raise RuntimeError("wrapped") from e


@pytest.mark.parametrize("dynamo, code", [(_sigterm, 143), (_wrapped_sigterm, 143),
                                          (_swallowed_sigterm, 143), (_wrapped_ctrl_c, 130)])
def test_interrupt_inside_the_exporter_never_falls_back(tmp_path: Path, monkeypatch, capsys,
                                                        dynamo, code: int) -> None:
    legacy = []
    monkeypatch.setattr(onnx_mod, "_dynamo", dynamo)
    monkeypatch.setattr(onnx_mod, "_legacy", lambda *a: legacy.append(1))
    out = tmp_path / "art"
    assert main(["onnx", "--out", str(out), "--channels", "8", "--height", "8",
                 "--width", "8"]) == code
    assert legacy == [] and not (out / "manifest.json").exists()
    assert not list(out.glob("*.onnx"))
    assert "stopped cleanly" in capsys.readouterr().err


# -- hole 8: one-line errors ----------------------------------------------------------------


def _one_line_exit(argv: list[str], code: int, capsys) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    # progress lines ("[1/2] ...") come first on stderr; the error is one line after them
    return "\n".join(ln for ln in err.splitlines() if not ln.startswith("["))


def test_huge_seed_is_one_line(tmp_path: Path, capsys) -> None:
    err = _one_line_exit(["onnx", "--seed", str(2**70), "--out", str(tmp_path / "a")], 2, capsys)
    assert err.startswith("error:") and "seed" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("errno_", ["EROFS", "ENOSPC"])
def test_parity_on_a_read_only_or_full_folder_is_one_line(folder: Path, monkeypatch, capsys,
                                                          errno_: str) -> None:
    import errno

    from chanattn_export.artifacts import folder as folder_mod

    code = getattr(errno, errno_)

    def fail(*_a, **_k):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(folder_mod, "write_atomic", fail)  # the final manifest write
    err = _one_line_exit(["parity", str(folder), "--trust-torchscript"], 2, capsys)
    assert err.startswith("error: cannot update the manifest")
    assert ("read-only" in err) if errno_ == "EROFS" else ("no space" in err)


def _bad_shapes() -> dict:
    return {
        "files not a list": lambda a: a.__setitem__("files", "x.onnx"),
        "no parity": lambda a: a.pop("parity"),
        "weights is the model": lambda a: a.__setitem__("weights", a["path"]),
        "NUL in a path": lambda a: a["files"][1].__setitem__("path", "w\x00.safetensors"),
    }


@pytest.mark.parametrize("name", list(_bad_shapes()))
def test_bad_manifest_shapes_are_one_line(folder: Path, capsys, name: str) -> None:
    m = read_manifest(folder)
    _bad_shapes()[name](m["artifacts"][0])
    write_manifest(folder, m)
    out = capsys.readouterr()
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "manifest.json" in out.out
    err = _one_line_exit(["parity", str(folder)], 2, capsys)
    assert len(err.splitlines()) == 1


def test_deeply_nested_manifest_is_one_line(folder: Path, capsys) -> None:
    (folder / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["verify", str(folder)]) == 1
    assert "nested" in capsys.readouterr().out
    assert "nested" in _one_line_exit(["parity", str(folder)], 2, capsys)


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    """`... | head`: the reader leaves early; exit without a traceback."""
    script = textwrap.dedent("""
        import sys
        from chanattn_export.cli import main
        sys.stdout.flush()
        sys.exit(main(["list"]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env())
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


# -- hole 9: resources an untrusted manifest asks for ------------------------------------------


def test_huge_input_in_the_manifest_is_refused_before_allocating(folder: Path) -> None:
    m = read_manifest(folder)
    m["artifacts"][0]["input"].update(batch=4096, height=8192, width=8192)
    write_manifest(folder, m)
    errors = [str(p) for p in verify_folder(folder) if p.severity != WARNING]
    assert any("refused before allocating" in e for e in errors), errors


def test_sparse_huge_file_is_not_read(folder: Path) -> None:
    m = read_manifest(folder)
    big = folder / "big.bin"
    with open(big, "wb") as f:
        f.truncate(8 << 30)  # sparse: costs no disk
    m["artifacts"][0]["files"].append({"path": "big.bin", "sha256": "0" * 64, "size": 8 << 30})
    write_manifest(folder, m)
    errors = [str(p) for p in verify_folder(folder) if p.severity != WARNING]
    assert any(e.startswith("big.bin:") and "not read" in e for e in errors), errors


# -- hole 10: the smaller ones ------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, -5])
def test_bad_manifest_versions_are_refused(folder: Path, version: int) -> None:
    m = read_manifest(folder)
    m["manifest_version"] = version
    write_manifest(folder, m)
    assert any("not a manifest version" in str(p) for p in verify_folder(folder))
    with pytest.raises(ArtifactError, match="not a manifest version"):
        api.check_parity(folder)


def test_duplicate_entries_are_refused(folder: Path) -> None:
    m = read_manifest(folder)
    m["artifacts"].append(m["artifacts"][0])
    write_manifest(folder, m)
    assert any("appears twice" in str(p) for p in verify_folder(folder))
    with pytest.raises(ArtifactError, match="appears twice"):
        api.check_parity(folder)


def test_weights_name_must_carry_its_hash(folder: Path) -> None:
    m = read_manifest(folder)
    entry = m["artifacts"][0]
    renamed = entry["weights"].replace(entry["weights"].split(".")[-2], "0" * 12)
    (folder / entry["weights"]).rename(folder / renamed)
    entry["files"][1]["path"] = entry["weights"] = renamed
    write_manifest(folder, m)
    assert any("does not carry its sha256 prefix" in str(p) for p in verify_folder(folder))


def test_torchscript_runner_without_expected_gives_input_error() -> None:
    from chanattn_export.runtime import TorchScriptRunner

    net = create_model("se", channels=8)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.trace(net, torch.randn(2, 8, 4, 4)), buf)
    runner = TorchScriptRunner(buf.getvalue())
    with pytest.raises(InputError, match=r"refused input of shape \[2, 5, 4, 4\]"):
        runner.infer(np.ones((2, 5, 4, 4), np.float32))  # wrong channel count
    with pytest.raises(InputError, match="float32"):
        runner.infer(np.ones((2, 8, 4, 4), np.float64))


def test_batch_too_large_for_memory_is_a_clear_error(monkeypatch) -> None:
    from chanattn_export.runtime import OrtRunner

    res_net = create_model("se", channels=8)
    from chanattn_export.export import export_bytes
    from chanattn_export.registry import make_spec
    from chanattn_export.spec import ExportSpec, InputSpec

    spec = ExportSpec(make_spec("se", 8, None, "nchw"), InputSpec(height=4, width=4))
    runner = OrtRunner(export_bytes(res_net, spec).data)

    class Session:
        def run(self, *_a, **_k):
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate "
                               "memory for requested buffer of size 68719476736")

    monkeypatch.setattr(runner, "session", Session())
    with pytest.raises(InputError, match=r"does not fit in memory.*smaller batch"):
        runner.infer(np.ones((3, 8, 4, 4), np.float32))


def test_signature_payload_is_json(folder: Path, keys) -> None:
    _signed(folder, keys)
    doc = json.loads((folder / "signature.json").read_text())
    assert doc["algorithm"] == "ed25519" and "manifest.json" in json.loads(doc["payload"])["files"]


def test_a_file_swapped_after_the_signature_check_is_never_loaded(folder: Path, evil_pt,
                                                                   tmp_path: Path,
                                                                   monkeypatch) -> None:
    """The signature is checked, then an attacker swaps the TorchScript file (and rewrites the
    manifest's checksums) before it is read for loading: the bytes loaded are checked against
    the signed digests, so the unsigned program never runs and verify fails."""
    pytest.importorskip("cryptography")
    from chanattn_export.artifacts import signing
    from chanattn_export.artifacts.signing import generate_key, sign_folder

    pub = generate_key(tmp_path / "k.pem")
    sign_folder(folder, tmp_path / "k.pem")
    assert verify_folder(folder, public_key=pub) == []  # signed: the .pt is trusted, and runs
    real = signing.signed_digests
    marker = evil_pt[1]

    def then_swap(root, key):
        got = real(root, key)
        _plant_evil(folder, evil_pt)  # after the hashing pass, before the load
        return got

    monkeypatch.setattr(signing, "signed_digests", then_swap)
    problems = [str(p) for p in verify_folder(folder, public_key=pub)]
    assert not marker.exists()
    assert "manifest.json: changed since the folder was signed" in problems
