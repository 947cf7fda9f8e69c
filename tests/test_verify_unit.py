"""verify and recheck, one rule at a time, on copies of the session's tiny artifact folder:
which problem each damage gives, its severity and its exact wording; nothing exports.

Fast enough for mutation testing (scripts/mutation.py runs this file per mutant).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from reliability_helpers import (
    ONNX_NAME,
    PT_NAME,
    read_manifest,
    resign,
    scale_weights,
    write_manifest,
)

from chanattn_export import ArtifactError
from chanattn_export.artifacts import MANIFEST, SUMS, ArtifactFolder, sha256_bytes
from chanattn_export.check.parity import CheckResult, ParityReport, Skip
from chanattn_export.check.recheck import (
    ERROR,
    NOT_TRUSTED,
    WARNING,
    EntryCheck,
    Problem,
    check_entry,
)
from chanattn_export.check.settings import CheckSettings
from chanattn_export.check.summary import failure_problems, record_parity
from chanattn_export.check.verify import has_errors, verify_folder
from chanattn_export.errors import ChanAttnError
from chanattn_export.spec import Tolerance


def lines(folder: Path, **kw) -> list[str]:
    return [str(p) for p in verify_folder(folder, trust_torchscript=True, **kw)]


def entry_of(folder: Path, name: str = ONNX_NAME):
    return ArtifactFolder(folder).read_manifest().get(name)


def edit(folder: Path, change, index: int = 0) -> dict:
    m = read_manifest(folder)
    change(m["artifacts"][index])
    write_manifest(folder, m)
    return m


def replace_weights(folder: Path, data: bytes) -> str:
    """New bytes for the ONNX entry's weights file, under their content-addressed name."""
    m = read_manifest(folder)
    (a,) = [a for a in m["artifacts"] if a["path"] == ONNX_NAME]
    sha = sha256_bytes(data)
    name = f"{a['weights'].split('.')[0]}.{sha[:12]}.safetensors"
    (folder / a["weights"]).unlink()
    (folder / name).write_bytes(data)
    a["files"][1].update(path=name, sha256=sha, size=len(data))
    a["weights"] = name
    write_manifest(folder, m)
    return name


# -- Problem, EntryCheck -------------------------------------------------------------------------


def test_problem_text_and_errors() -> None:
    assert str(Problem("a.onnx", "bad")) == "a.onnx: bad"
    assert str(Problem("a.onnx", "odd", WARNING)) == "a.onnx: warning: odd"
    assert Problem("a", "b").severity == ERROR == "error" and WARNING == "warning"
    assert has_errors([Problem("a", "w", WARNING), Problem("a", "e")])
    assert not has_errors([Problem("a", "w", WARNING)]) and not has_errors([])


def _report(*passed: bool, skipped=()) -> ParityReport:
    checks = tuple(CheckResult("onnxruntime-cpu", "random", (1, 8, 8, 8), 0.0, 0.0, 0.0, 0, p)
                   for p in passed)
    return ParityReport(Tolerance(), checks, 0, tuple(skipped))


def test_entry_check_ok(folder: Path) -> None:
    e = entry_of(folder)
    assert EntryCheck(e, (), _report(True)).ok
    assert EntryCheck(e, (Problem("x", "w", WARNING),), _report(True)).ok
    assert not EntryCheck(e, (Problem("x", "e"),), _report(True)).ok
    assert not EntryCheck(e, (), _report(True, False)).ok
    assert not EntryCheck(e, (), None).ok
    assert not EntryCheck(e, (), _report()).ok  # no check ran: nothing proven


# -- failure_problems ----------------------------------------------------------------------------


def _failing(**kw) -> CheckResult:
    base = dict(backend="onnxruntime-cpu", case="large", shape=(2, 8, 8, 8), max_abs=0.5,
                max_rel=0.1, needed_atol=0.25, nan_mismatch=0, passed=False)
    return CheckResult(**{**base, **kw})


@pytest.mark.parametrize("kw, why", [
    ({}, "max |diff| 0.5 needs atol 0.25 > 0.0001"),
    ({"needed_atol": float("inf")}, "output shape differs"),
    ({"needed_atol": float("inf"), "nan_mismatch": 3}, "3 NaN mismatches"),
    ({"nan_mismatch": 1}, "1 NaN mismatches"),
    ({"nonfinite_reference": 2, "nan_mismatch": 1},
     "the eager reference output is not finite on a finite input (NaN/Inf weights?)"),
])
def test_first_parity_failure_is_one_line(folder: Path, kw: dict, why: str) -> None:
    e = entry_of(folder)
    tol = Tolerance(atol=1e-4)
    report = ParityReport(tol, (_failing(case="random", passed=True), _failing(**kw),
                                _failing(case="other")), 0)
    (p,) = failure_problems(EntryCheck(e, (), report))
    assert p == Problem(ONNX_NAME, f"parity fails on onnxruntime-cpu (case large, shape "
                                   f"[2, 8, 8, 8]): {why} (eager reference built from "
                                   f"{e.weights})")


def test_skipped_backends_are_notes_unless_asked_for(folder: Path) -> None:
    e = entry_of(folder)
    report = _report(True, skipped=[Skip("onnxruntime-cuda", "no GPU"),
                                    Skip("torch-cuda", "asked, unusable", requested=True)])
    assert failure_problems(EntryCheck(e, (), report)) == [
        Problem(ONNX_NAME, "no GPU", WARNING), Problem(ONNX_NAME, "asked, unusable", ERROR)]
    assert failure_problems(EntryCheck(e, (), None)) == []


# -- check_entry ---------------------------------------------------------------------------------


def test_check_entry_passes_on_the_pristine_files(folder: Path) -> None:
    check = check_entry(ArtifactFolder(folder), entry_of(folder),
                        cases=("random",))
    assert check.ok and check.problems == ()
    assert {c.case for c in check.parity.checks} == {"random"}
    assert check.parity.seed == 0


def test_parity_dir_raises_at_the_first_problem(folder: Path) -> None:
    (folder / ONNX_NAME).write_bytes(b"x")
    e = entry_of(folder)
    with pytest.raises(ArtifactError) as info:
        check_entry(ArtifactFolder(folder), e, collect=False)
    assert str(info.value) == (f"{ONNX_NAME}: sha256 differs from the manifest (1 bytes on "
                               "disk): truncated, corrupted or changed")


def test_torchscript_is_a_program(folder: Path) -> None:
    """Not trusted: not loaded, said as skipped (one summary line later), never an error."""
    e = entry_of(folder, PT_NAME)
    for collect in (True, False):
        check = check_entry(ArtifactFolder(folder), e, collect=collect)
        assert check.problems == () and check.parity is None and check.skipped == NOT_TRUSTED
    trusted = check_entry(ArtifactFolder(folder), e,
                          trust_torchscript=True, cases=("random",))
    assert trusted.ok


def test_file_named_twice_is_checked_once(folder: Path) -> None:
    folder_ = ArtifactFolder(folder)
    cache: dict = {}
    weights = entry_of(folder).weights
    (folder / weights).write_bytes(b"broken")
    first = check_entry(folder_, entry_of(folder), cache=cache)
    again = check_entry(folder_, entry_of(folder), cache=cache)
    assert [p.path for p in first.problems] == [weights] and again.problems == ()
    assert again.parity is None  # still never parsed


def test_format_must_match_the_file_name(folder: Path) -> None:
    shutil.copy(folder / ONNX_NAME, folder / "model.pt")

    def rename(a: dict) -> None:
        a["path"] = a["files"][0]["path"] = "model.pt"

    edit(folder, rename)
    problems = [str(p) for p in verify_folder(folder) if p.path == "model.pt"]
    assert problems == ["model.pt: format onnx in the manifest, but the file name ends '.pt'"]
    e = entry_of(folder, "model.pt")
    check = check_entry(ArtifactFolder(folder), e)
    assert check.entry == e and check.parity is None


def test_file_larger_than_recorded_is_not_read(folder: Path) -> None:
    data = (folder / ONNX_NAME).read_bytes()
    (folder / ONNX_NAME).write_bytes(data + b"\0")
    assert lines(folder) == [f"{ONNX_NAME}: {len(data) + 1} bytes on disk, more than "
                             f"{len(data)} (the manifest's size, at most {1 << 30}): corrupted "
                             "or changed; not read"]

    def unsized(a: dict) -> None:
        del a["files"][0]["size"]

    edit(folder, unsized, 1 if read_manifest(folder)["artifacts"][1]["path"] == ONNX_NAME
         else 0)
    assert lines(folder) == [f"{ONNX_NAME}: sha256 differs from the manifest ({len(data) + 1} "
                             "bytes on disk): truncated, corrupted or changed"]


def test_record_outside_the_folder_is_a_manifest_problem(folder: Path) -> None:
    edit(folder, lambda a: a["files"].append({"path": "../x", "sha256": "0" * 64}))
    assert lines(folder) == [f"{MANIFEST}: manifest path '../x' escapes the artifact folder",
                             f"{SUMS}: warning: does not match the manifest (an interrupted "
                             "run or an edit; the next export rewrites it)"]


def test_missing_and_unreadable_files(folder: Path) -> None:
    (folder / ONNX_NAME).unlink()
    (folder / ONNX_NAME).mkdir()
    assert lines(folder) == [f"{ONNX_NAME}: missing (named in the manifest)"]


def test_loose_stored_tolerance_is_reported_not_used(folder: Path) -> None:
    def loosen(a: dict) -> None:
        a["parity"].update(atol=1.0, rtol=True)

    idx = [a["path"] for a in read_manifest(folder)["artifacts"]].index(ONNX_NAME)
    edit(folder, loosen, idx)
    resign(folder, ONNX_NAME)
    (w,) = verify_folder(folder, trust_torchscript=True, tolerance=Tolerance(atol=2e-5,
                                                                          rtol=3e-6))
    assert str(w) == (f"{MANIFEST}: warning: entry {ONNX_NAME} records a looser tolerance than "
                      "the defaults (atol 1); ignored: judged at atol 2e-05, rtol 3e-06")
    default = Tolerance()
    edit(folder, lambda a: a["parity"].update(atol=default.atol, rtol=default.rtol * 2), idx)
    (w,) = verify_folder(folder, trust_torchscript=True)
    assert f"(rtol {default.rtol * 2:g})" in w.message
    edit(folder, lambda a: a["parity"].update(atol="9", rtol=default.rtol), idx)
    assert verify_folder(folder, trust_torchscript=True) == []


def test_huge_shapes_are_refused_before_allocating(folder: Path, monkeypatch) -> None:
    import chanattn_export.check.recheck as recheck
    import chanattn_export.registry as registry

    def allocating(*a, **kw):  # what a missing refusal would reach (gigabytes): fail fast
        raise AssertionError("allocating")

    monkeypatch.setattr(registry, "build_model", allocating)
    monkeypatch.setattr(recheck, "make_cases", allocating)
    idx = [a["path"] for a in read_manifest(folder)["artifacts"]].index(ONNX_NAME)
    edit(folder, lambda a: a["input"].update(height=8192, width=8192), idx)

    def only_problem():
        check = check_entry(ArtifactFolder(folder), entry_of(folder))
        (p,) = check.problems
        assert check.parity is None
        return p

    p = only_problem()
    assert p.path == ONNX_NAME and "refused before allocating" in p.message
    assert p.message.startswith("the manifest asks for parity inputs of shape [")
    assert "more than 2**28" in p.message
    edit(folder, lambda a: (a["input"].update(height=8, width=8),
                            a["model"].update(channels=1 << 16, ratio=1)), idx)
    p = only_problem()
    assert p.message == ("the manifest's model (65536 channels, ratio 1) would allocate "
                         "4.29e+09 weights (more than 2**28): refused before allocating")


def test_weights_that_do_not_fit_the_spec(folder: Path) -> None:
    idx = [a["path"] for a in read_manifest(folder)["artifacts"]].index(ONNX_NAME)
    edit(folder, lambda a: a["model"].update(channels=16, ratio=8), idx)
    a = read_manifest(folder)["artifacts"][idx]
    errors = [p for p in verify_folder(folder, trust_torchscript=True) if p.severity == ERROR]
    # the rebuilt block refuses its weights, and the evidence's inputs no longer fit
    assert {p.path for p in errors} == {a["weights"], a["reference"]}


def test_garbage_weights_with_matching_checksums(folder: Path) -> None:
    name = replace_weights(folder, b"\x08\0\0\0\0\0\0\0{}")  # a header of 8 bytes, no JSON
    (p,) = [p for p in verify_folder(folder, trust_torchscript=True) if p.severity == ERROR]
    assert p.path == name and "not a valid safetensors file: " in p.message


def test_without_onnx_the_checker_is_named_as_not_run(folder: Path, monkeypatch) -> None:
    """A deployment host has onnxruntime, not onnx: the file is still judged, and the one
    summary line says the checker did not run."""
    monkeypatch.setitem(sys.modules, "onnx", None)
    (p,) = verify_folder(folder, trust_torchscript=True)
    assert p.path == MANIFEST and p.severity == WARNING
    assert "1 ONNX file not run through onnx.checker (pip install onnx" in p.message


def test_unloadable_torchscript_with_matching_checksums(folder: Path) -> None:
    (folder / PT_NAME).write_bytes(b"PK\x03\x04 not a zip")
    resign(folder, PT_NAME)
    (p, sums) = verify_folder(folder, trust_torchscript=True)
    assert p.path == PT_NAME and p.message.startswith("not a loadable TorchScript file: ")
    assert sums.path == SUMS and sums.severity == WARNING


# -- record_parity ---------------------------------------------------------------------------------


def test_record_parity_stores_verdicts_of_unchanged_files(folder: Path) -> None:
    art = ArtifactFolder(folder)
    onnx_e, pt_e = entry_of(folder), entry_of(folder, PT_NAME)
    failing = EntryCheck(onnx_e, (), _report(True, False))
    stale = EntryCheck(pt_e.with_parity({}, True), (), _report(False))
    object.__setattr__(stale, "entry", type(pt_e)(**{**pt_e.__dict__, "sha256": "0" * 64}))
    record_parity(art, [failing, stale, EntryCheck(onnx_e, (), None)])
    m = art.read_manifest()
    assert m.get(ONNX_NAME).status == "failed"
    assert m.get(ONNX_NAME).parity == _report(True, False).to_dict()
    assert m.get(PT_NAME) == pt_e  # another file was checked: its verdict is not stored
    files = {f.path for e in m.entries for f in e.files}  # model, weights, evidence each
    assert (folder / SUMS).read_text().count("\n") == len(files) == 6


def test_record_parity_keeps_lint_and_ignores_empty_reports(folder: Path) -> None:
    art = ArtifactFolder(folder)
    lint = [{"rule": "baked-shape", "message": "m", "node": None}]
    art.update_manifest(lambda m: m.with_entry(m.get(ONNX_NAME).with_parity(
        {"lint": lint}, False)))
    e = entry_of(folder)
    record_parity(art, [EntryCheck(e, (), _report())])  # nothing ran: nothing stored
    assert entry_of(folder).parity == {"lint": lint}
    record_parity(art, [EntryCheck(e, (), _report(True))])
    after = entry_of(folder)
    assert after.parity == {**_report(True).to_dict(), "lint": lint} and not after.passed
    art.update_manifest(lambda m: m.with_entry(m.get(ONNX_NAME).with_parity({}, False)))
    record_parity(art, [EntryCheck(entry_of(folder), (), _report(True))])
    assert entry_of(folder).passed and "lint" not in entry_of(folder).parity


# -- verify_folder -------------------------------------------------------------------------------


def test_progress_names_every_entry(folder: Path) -> None:
    m = read_manifest(folder)
    m["artifacts"].append([1])
    m["artifacts"].append({"path": 3})
    write_manifest(folder, m)
    said: list[str] = []
    problems = verify_folder(folder, trust_torchscript=True, progress=said.append)
    names = sorted(a["path"] for a in m["artifacts"][:2])
    assert said == [f"verifying {names[0]} ...", f"verifying {names[1]} ...",
                    "verifying artifacts[2] ...", "verifying artifacts[3] ..."]
    assert [str(p) for p in problems if p.severity == ERROR] == [
        f"{MANIFEST}: artifacts[2] is not an object",
        f"{MANIFEST}: entry artifacts[3] lacks fields: sha256, format, model, input, files, "
        "weights, parity"]


def test_duplicate_entry_is_reported_once_and_checked_once(folder: Path) -> None:
    m = read_manifest(folder)
    m["artifacts"].append(m["artifacts"][0])
    write_manifest(folder, m)
    got = [str(p) for p in verify_folder(folder, trust_torchscript=True)]
    assert got == [f"{MANIFEST}: entry {m['artifacts'][0]['path']} appears twice"]


def test_an_empty_manifest_lists_no_artifacts(folder: Path) -> None:
    (folder / MANIFEST).write_text('{"manifest_version": 1, "artifacts": []}')
    assert lines(folder) == [f"{MANIFEST}: lists no artifacts"]
    (folder / MANIFEST).write_bytes(b"\xff")
    assert lines(folder)[0].startswith(f"{MANIFEST}: unreadable: ")


def _pending(folder: Path, landed: bool) -> dict:
    """A commit interrupted before (or after) its rename: the new entry pending."""
    m = read_manifest(folder)
    idx = [a["path"] for a in m["artifacts"]].index(ONNX_NAME)
    new = json.loads(json.dumps(m["artifacts"][idx]))
    data = b"new model bytes"
    sha = sha256_bytes(data)
    new["sha256"] = new["files"][0]["sha256"] = sha
    new["files"][0]["size"] = len(data)
    m["pending"] = [new]
    write_manifest(folder, m)
    if landed:
        (folder / ONNX_NAME).write_bytes(data)
    return new


def test_pending_entry_of_a_commit_that_never_renamed(folder: Path) -> None:
    _pending(folder, landed=False)
    assert lines(folder) == [f"{MANIFEST}: warning: an interrupted export left entry "
                             f"{ONNX_NAME} pending; the folder holds the old artifact (the "
                             "next export tidies up)"]


def test_pending_entry_that_landed_replaces_the_committed_one(folder: Path) -> None:
    _pending(folder, landed=True)
    got = lines(folder)
    assert got[0] == (f"{MANIFEST}: warning: an interrupted export left entry {ONNX_NAME} "
                      "pending; the folder holds the new artifact (the next export tidies up)")
    # the new entry is the one checked: its bytes match, then they fail to parse
    assert got[1].startswith(f"{ONNX_NAME}: not a valid ONNX model")
    assert got[2].startswith(f"{SUMS}: warning: does not match")
    assert len(got) == 3


def test_bad_pending_entry(folder: Path) -> None:
    m = read_manifest(folder)
    m["pending"] = [{"path": "x"}]
    write_manifest(folder, m)
    assert lines(folder) == [f"{MANIFEST}: pending entry x lacks fields: sha256, format, model, "
                             "input, files, weights, parity"]


def test_sha256sums_problems(folder: Path) -> None:
    (folder / SUMS).write_text((folder / SUMS).read_text() + "\n")
    assert lines(folder) == [f"{SUMS}: warning: does not match the manifest (an interrupted run "
                             "or an edit; the next export rewrites it)"]
    (folder / SUMS).write_bytes(b"\xff")
    assert lines(folder)[0].startswith(f"{SUMS}: warning: does not match")
    (folder / SUMS).unlink()
    assert lines(folder) == [f"{SUMS}: warning: missing (written by every export of this "
                             "version)"]


def test_stray_files(folder: Path) -> None:
    for name in ("z.onnx", "a.pt2", "w.safetensors", "y.pt", "notes.txt", ".tmp-x"):
        (folder / name).write_bytes(b"x")
    (folder / "failed").mkdir()
    assert lines(folder) == [
        ".tmp-x: warning: temporary file left by an interrupted run (the next export removes "
        "it)",
        "a.pt2: warning: not named in the manifest",
        "failed: warning: holds exports that failed parity (kept with --keep-failed; never "
        "load them)",
        "w.safetensors: warning: not named in the manifest",
        "y.pt: warning: not named in the manifest",
        "z.onnx: warning: not named in the manifest",
    ]


def test_bad_devices_are_the_callers_error(folder: Path) -> None:
    with pytest.raises(ChanAttnError):
        verify_folder(folder, devices="tpu")


def test_signed_folder_trusts_torchscript(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from chanattn_export.artifacts.signing import generate_key, sign_folder

    pub = generate_key(tmp_path / "k.pem")
    sign_folder(folder, tmp_path / "k.pem")
    assert verify_folder(folder, public_key=pub) == []  # the .pt was loaded and checked
    (folder / "extra.txt").write_text("x")
    got = [str(p) for p in verify_folder(folder, public_key=pub)]
    assert got[0] == "extra.txt: added since the folder was signed (not covered by the signature)"
    assert got[1] == (f"{MANIFEST}: warning: not checked here: 1 TorchScript file not loaded "
                      f"({PT_NAME}; programs: --trust-torchscript or a valid signature with "
                      "--public-key loads them)")  # no longer trusted
    assert len(got) == 2
    trusted = [str(p) for p in verify_folder(folder, public_key=pub, trust_torchscript=True)]
    assert trusted == got[:1]


def test_missing_manifest_message(tmp_path: Path) -> None:
    assert lines(tmp_path) == [f"{MANIFEST}: missing (not an artifact folder?)"]


def test_one_bad_entry_hides_no_other(folder: Path) -> None:
    m = read_manifest(folder)
    m["artifacts"].insert(0, 7)
    m["artifacts"].insert(0, m["artifacts"][1])  # a duplicate first, then a bad one
    write_manifest(folder, m)
    (folder / PT_NAME).write_bytes(b"x")
    got = lines(folder)
    assert got[:2] == [f"{MANIFEST}: artifacts[1] is not an object",
                       f"{MANIFEST}: entry {m['artifacts'][0]['path']} appears twice"]
    assert any(x.startswith(f"{PT_NAME}: sha256 differs") for x in got)


def test_every_bad_pending_entry_is_named(folder: Path) -> None:
    m = read_manifest(folder)
    m["pending"] = [1, 2]
    write_manifest(folder, m)
    assert lines(folder) == [f"{MANIFEST}: pending artifacts[0] is not an object",
                             f"{MANIFEST}: pending artifacts[1] is not an object"]


def test_a_file_shared_by_entries_is_reported_once(folder: Path) -> None:
    m = read_manifest(folder)
    onnx_e = next(a for a in m["artifacts"] if a["path"] == ONNX_NAME)
    pt_e = next(a for a in m["artifacts"] if a["path"] == PT_NAME)
    pt_e["files"].append(onnx_e["files"][1])  # both entries name the ONNX weights file
    write_manifest(folder, m)
    (folder / onnx_e["weights"]).write_bytes(b"broken")
    got = [x for x in lines(folder) if not x.startswith(SUMS)]
    assert got == [f"{onnx_e['weights']}: sha256 differs from the manifest (6 bytes on disk): "
                   "truncated, corrupted or changed"]


def _nudged(folder: Path) -> None:
    """The ONNX file computes slightly wrong outputs, with matching checksums."""
    scale_weights(folder / ONNX_NAME, 1.05)
    resign(folder, ONNX_NAME)


def test_the_seed_picks_the_parity_inputs(folder: Path) -> None:
    _nudged(folder)

    def rebuilt(seed: int) -> list[float]:
        check = check_entry(ArtifactFolder(folder), entry_of(folder), CheckSettings(seed=seed))
        assert not check.ok
        return [c.max_abs for c in check.parity.checks if c.reference == "eager"]

    def stored(seed: int) -> list[float]:
        check = check_entry(ArtifactFolder(folder), entry_of(folder), CheckSettings(seed=seed))
        return [c.max_abs for c in check.parity.checks if c.reference == "stored"]

    assert rebuilt(0) == rebuilt(0)  # reproducible
    assert rebuilt(0) != rebuilt(7)  # other inputs: another max |diff|
    assert stored(0) == stored(7)  # the evidence's inputs are the ones stored


def test_devices_asked_for_must_exist(folder: Path) -> None:
    from chanattn_export.errors import MissingDependencyError
    from chanattn_export.runtime.devices import ort_cuda_available

    if ort_cuda_available():
        pytest.skip("onnxruntime has CUDA here")
    with pytest.raises(MissingDependencyError, match=r"^--devices cuda: onnxruntime has no"):
        verify_folder(folder, devices="cuda")


def test_model_building_crash_is_one_line(folder: Path, monkeypatch) -> None:
    import chanattn_export.registry as registry

    def crash(*a, **kw):
        raise RuntimeError("header too large\ndetails")

    monkeypatch.setattr(registry, "build_model", crash)
    e = entry_of(folder)
    (p,) = [p for p in verify_folder(folder, trust_torchscript=True) if p.path == e.weights]
    assert p == Problem(e.weights, "not a valid safetensors file: header too large")


@pytest.mark.parametrize("fmt, kind", [("onnx", "cannot load"),
                                       ("pt2", "not a loadable torch.export program")])
def test_runtime_refusing_the_file_is_one_line(folder: Path, monkeypatch, fmt: str,
                                               kind: str) -> None:
    import chanattn_export.runtime as runtime

    name = ONNX_NAME
    if fmt == "pt2":
        name = ONNX_NAME.replace(".onnx", ".pt2")
        (folder / ONNX_NAME).rename(folder / name)

        def to_pt2(a: dict) -> None:
            a["path"] = a["files"][0]["path"] = name
            a["format"] = "pt2"

        edit(folder, to_pt2, [a["path"] for a in read_manifest(folder)["artifacts"]]
             .index(ONNX_NAME))

    def refuse(*a, **kw):
        raise ArtifactError("no runtime for it")

    monkeypatch.setattr(runtime, "runners_for", refuse)
    (p,) = [p for p in verify_folder(folder, trust_torchscript=True) if p.path == name]
    assert p == Problem(name, f"{kind}: no runtime for it")


@pytest.fixture
def guarded(monkeypatch):
    """What a missing size refusal would reach (gigabytes) fails fast instead."""
    import chanattn_export.check.recheck as recheck
    import chanattn_export.registry as registry

    def allocating(*a, **kw):
        raise AssertionError("allocating")

    monkeypatch.setattr(registry, "build_model", allocating)
    monkeypatch.setattr(recheck, "make_cases", allocating)


@pytest.mark.parametrize("model, inp, want", [
    # batches 1, 2, 3: 1 x 8 x 8192 x 2048 fits, 2 x ... is exactly 2**28 (fits), 3 x ... not
    ({"channels": 8, "ratio": 8}, {"height": 8192, "width": 2048},
     "the manifest asks for parity inputs of shape [3, 8, 8192, 2048] (4.03e+08 elements, more "
     "than 2**28): refused before allocating"),
    # dynamic H x W: the second parity size (3 x 8199) is the one too large
    ({"channels": 4096, "ratio": 16}, {"height": 1, "width": 8192, "dynamic_hw": True},
     "the manifest asks for parity inputs of shape [3, 4096, 3, 8199] (3.02e+08 elements, more "
     "than 2**28): refused before allocating"),
    ({"channels": 16385, "ratio": None}, {"height": 1, "width": 1},
     "the manifest's model (16385 channels, ratio None) would allocate 2.68e+08 weights (more "
     "than 2**28): refused before allocating"),
    ({"channels": 16384, "ratio": 1}, {"height": 1, "width": 1}, None),  # exactly 2**28: fits
    ({"channels": 32768, "ratio": 4}, {"height": 1, "width": 1}, None),
])
def test_size_limits_exactly(folder: Path, guarded, model: dict, inp: dict, want) -> None:
    idx = [a["path"] for a in read_manifest(folder)["artifacts"]].index(ONNX_NAME)
    edit(folder, lambda a: (a["model"].update(model), a["input"].update(inp)), idx)
    check = check_entry(ArtifactFolder(folder), entry_of(folder))
    (p,) = [p for p in check.problems if p.path != entry_of(folder).reference]
    if want is None:  # not refused: it went on to build the model
        assert p.message == "not a valid safetensors file: allocating"
    else:
        assert p == Problem(ONNX_NAME, want) and check.entry == entry_of(folder)


def test_unreadable_file_is_one_line(folder: Path, monkeypatch) -> None:
    import os

    import chanattn_export.fileio.bounded as bounded

    real = os.open

    def refusing(path, *a, **kw):
        if Path(path).name == PT_NAME:
            raise PermissionError(13, "Permission denied")
        return real(path, *a, **kw)

    monkeypatch.setattr(bounded.os, "open", refusing)
    assert lines(folder) == [f"{PT_NAME}: cannot open the file: Permission denied"]


def test_a_checked_file_is_served_from_the_cache(folder: Path) -> None:
    art, e, cache = ArtifactFolder(folder), entry_of(folder), {}
    first = check_entry(art, e, cases=("random",), cache=cache)
    (folder / ONNX_NAME).unlink()  # the bytes already checked are the ones judged again
    again = check_entry(art, e, cases=("random",), cache=cache)
    assert first.ok and again.ok and again.parity == first.parity


def test_parity_that_cannot_run_is_one_line(folder: Path, monkeypatch) -> None:
    import chanattn_export.check.recheck as recheck

    def broken(*a, **kw):
        raise ArtifactError("no usable backend")

    monkeypatch.setattr(recheck, "measure_usable", broken)
    (p,) = [p for p in verify_folder(folder) if p.severity == ERROR]
    assert p == Problem(ONNX_NAME, "cannot run: no usable backend")


def test_bad_bytes_are_never_run(folder: Path, monkeypatch) -> None:
    (folder / ONNX_NAME).write_bytes(b"\x08\x01garbage")
    resign(folder, ONNX_NAME)
    check = check_entry(ArtifactFolder(folder), entry_of(folder))
    (p,) = check.problems
    assert p.message.startswith("not a valid ONNX model: ") and not p.message.endswith("None")
    assert check.parity is None and check.entry == entry_of(folder)
    monkeypatch.setitem(sys.modules, "onnx", None)  # a deployment host: onnxruntime parses it
    check = check_entry(ArtifactFolder(folder), entry_of(folder))
    (p,) = check.problems
    assert p.message.startswith("cannot load: not a well-formed ONNX model")
    assert check.parity is None


def test_no_parity_after_any_file_problem(folder: Path) -> None:
    def extra(a: dict) -> None:
        a["files"].append({"path": "extra.bin", "sha256": "0" * 64})

    edit(folder, extra, [a["path"] for a in read_manifest(folder)["artifacts"]].index(ONNX_NAME))
    e = entry_of(folder)
    check = check_entry(ArtifactFolder(folder), e)
    assert [str(p) for p in check.problems] == ["extra.bin: missing (named in the manifest)"]
    assert check.parity is None and check.entry == e


def test_torchscript_not_loaded_is_one_summary_line(folder: Path) -> None:
    from chanattn_export.check.summary import unchecked_line

    e = entry_of(folder, PT_NAME)
    check = check_entry(ArtifactFolder(folder), e)
    assert check.entry == e and check.problems == () and check.skipped == NOT_TRUSTED
    assert unchecked_line([check, check], MANIFEST) == Problem(
        MANIFEST, f"not checked here: 2 TorchScript files not loaded ({PT_NAME}, {PT_NAME}; "
        "programs: --trust-torchscript or a valid signature with --public-key loads them)",
        WARNING)
    many = unchecked_line([check] * 5, MANIFEST)
    assert f"5 TorchScript files not loaded ({PT_NAME}, {PT_NAME}, {PT_NAME} and 2 more; " \
        in many.message
    assert unchecked_line([check_entry(ArtifactFolder(folder), entry_of(folder))]) is None


def test_both_looser_tolerances_are_listed(folder: Path) -> None:
    idx = [a["path"] for a in read_manifest(folder)["artifacts"]].index(ONNX_NAME)
    edit(folder, lambda a: a["parity"].update(atol=1.0, rtol=0.5), idx)
    (w,) = verify_folder(folder, trust_torchscript=True)
    assert "(atol 1, rtol 0.5); ignored" in w.message


def test_verify_rebuilds_at_the_quick_cases_and_fresh_inputs(folder: Path, monkeypatch) -> None:
    """Seed 0 picked the evidence's inputs: the rebuilt block is compared at seed 1's."""
    import chanattn_export.check.recheck as recheck

    asked: list = []
    real = recheck.make_cases

    def spy(model, inp, seed, cases):
        asked.append((seed, tuple(cases)))
        return real(model, inp, seed, cases)

    monkeypatch.setattr(recheck, "make_cases", spy)
    assert verify_folder(folder, trust_torchscript=True) == []
    assert asked == [(1, ("random", "large", "saturate"))] * 2


def test_no_such_folder(tmp_path: Path) -> None:
    assert verify_folder(tmp_path / "nope") == [Problem(str(tmp_path / "nope"), "no such folder")]


def test_signature_problem_lines_split_at_the_path(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from chanattn_export.artifacts.signing import generate_key, sign_folder

    generate_key(tmp_path / "k.pem")
    other = generate_key(tmp_path / "other.pem")
    sign_folder(folder, tmp_path / "k.pem")
    got = verify_folder(folder, public_key=other)
    assert got[0] == Problem("signature.json", f"does not verify with {other}: signed by another "
                                               "key, or the signature or its file list was "
                                               "edited")


def test_bytes_that_differ_from_the_signed_digest_are_never_used(folder: Path) -> None:
    """With a signature, a file must match the manifest *and* the signed digest on the very
    bytes read for use (a swap after the signature's own hashing pass is caught here)."""
    e = entry_of(folder, PT_NAME)
    signed = {f.path: f.sha256 for f in e.files}
    ok = check_entry(ArtifactFolder(folder), e, trust_torchscript=True, cases=("random",),
                     signed=signed)
    assert ok.ok
    signed[PT_NAME] = "0" * 64
    bad = check_entry(ArtifactFolder(folder), e, trust_torchscript=True, signed=signed)
    assert [str(p) for p in bad.problems] == [f"{PT_NAME}: changed since the folder was signed"]
    assert bad.parity is None
