"""``bench --compare A B --fail-slower PCT`` is a CI gate: it must never pass a regression.

Exit 1 only for a case slower beyond the threshold; exit 2 with one line for files that cannot
be compared (malformed, NaN/negative/infinite/text timings, nothing in common, a case missing
or failed on one side unless --allow-missing); a threshold needs its % sign.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_helpers import result

from chanattn_export.bench.config import BenchConfig, Case
from chanattn_export.bench.derive import make_result
from chanattn_export.bench.files import write_json
from chanattn_export.cli import main
from chanattn_export.spec import Backend, Device


def _gate(capsys: pytest.CaptureFixture[str], a: Path, b: Path, *extra: str) -> tuple[int, str,
                                                                                       str]:
    code = main(["bench", "--compare", str(a), str(b), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, needle: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err, err
    assert "Traceback" not in err


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two results files with the same two cases, B 1% slower (well inside any gate)."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(a, {}, [result("eager", 0.002), result("onnxruntime", 0.001)])
    write_json(b, {}, [result("eager", 0.00202), result("onnxruntime", 0.00101)])
    return a, b


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))  # json.dumps writes NaN and Infinity as given


def test_a_clean_pair_passes_and_a_slower_case_exits_1(pair, capsys) -> None:
    a, b = pair
    code, out, _ = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 0 and "ok: no case of b.json is slower" in out and "2 common case(s)" in out
    code, out, _ = _gate(capsys, b, a, "--fail-slower", "0.5%")
    assert code == 0  # a is faster than b
    code, out, _ = _gate(capsys, a, b, "--fail-slower", "0.5%")
    assert code == 1 and "FAIL: 2 case(s) of b.json slower" in out


@pytest.mark.parametrize("value", [float("nan"), -0.001, float("inf"), "0.002", "fast", None])
def test_bad_timings_are_refused_in_one_line(pair, capsys, value) -> None:
    """NaN compared as "not slower" and passed the gate; text, negative and infinite timings
    ended in tracebacks (exit 1, read by CI as "slower")."""
    a, b = pair

    def plant(doc: dict) -> None:
        doc["benchmarks"][0]["stats"]["data"][2] = value

    _edit(b, plant)
    code, out, err = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 2 and out == ""
    _one_line_error(err, "b.json: benchmarks[0]: stats.data[2] must be a finite number >= 0")


@pytest.mark.parametrize("field", ["median", "q1"])
def test_bad_summary_without_samples_is_refused(pair, capsys, field) -> None:
    a, b = pair

    def plant(doc: dict) -> None:
        st = doc["benchmarks"][1]["stats"]
        st.pop("data")
        st[field] = float("nan")

    _edit(b, plant)
    code, _, err = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 2
    _one_line_error(err, f"stats.{field} must be a finite number")


def test_legacy_layout_nan_median_is_refused(tmp_path, capsys) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    rec = result().to_dict()
    a.write_text(json.dumps({"machine": {}, "results": [rec]}))
    b.write_text(json.dumps({"machine": {}, "results": [{**rec, "median_ms": float("nan")}]}))
    code, _, err = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 2
    _one_line_error(err, "results[0]: median_ms must be a finite number >= 0")


@pytest.mark.parametrize(("doc", "needle"), [
    ({"benchmarks": [3]}, "benchmarks[0] is not an object"),
    ({"benchmarks": [{"extra_info": [1], "stats": {}}]}, "extra_info and stats must be objects"),
    ({"machine": {}, "results": [3]}, "results[0] is not an object"),
    ({"machine": {}, "results": [{"model": "se"}]}, "results[0] lacks backend"),
    ({"machine_info": [1], "benchmarks": []}, "'machine_info' must be an object"),
    ([1, 2], "expected pytest-benchmark's JSON"),
])
def test_malformed_files_are_one_line(pair, capsys, doc, needle) -> None:
    a, b = pair
    b.write_text(json.dumps(doc))
    code, _, err = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 2
    _one_line_error(err, needle)


def test_deeply_nested_json_is_one_line(pair, capsys) -> None:
    a, b = pair
    b.write_text('{"benchmarks": [], "machine_info": {"x": ' + "[" * 200_000 + "]" * 200_000
                 + "}}")
    code, _, err = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 2
    _one_line_error(err, "nested 200002 levels deep")


def test_a_fifo_results_file_is_refused_unread(pair, tmp_path, capsys) -> None:
    import os

    a, _ = pair
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    code, _, err = _gate(capsys, a, fifo)
    assert code == 2
    _one_line_error(err, "not a regular file (a FIFO)")


def test_no_case_in_common_is_not_ok(tmp_path, capsys) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(a, {}, [result("eager", 0.002)])
    write_json(b, {}, [result("onnxruntime", 0.002)])
    for extra in ((), ("--fail-slower", "10%")):
        code, out, err = _gate(capsys, a, b, *extra)
        assert code == 2 and "ok" not in out
        _one_line_error(err, "no timed case in common")


def _failed(backend: str) -> object:
    return make_result(BenchConfig(models=("cbam-channel",), threads=2),
                       Case("cbam-channel", Backend(backend), Device.CPU, 8), "applied",
                       error="RuntimeError: boom")


def test_a_case_that_failed_in_the_new_run_fails_the_gate(tmp_path, capsys) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(a, {}, [result("eager", 0.002), result("onnxruntime", 0.001)])
    write_json(b, {}, [result("eager", 0.002), _failed("onnxruntime")])
    code, out, err = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 2 and "ok:" not in out
    assert "failed in b.json: cbam-channel onnxruntime cpu float32 8: RuntimeError: boom" in out
    _one_line_error(err, "1 case(s) not timed on both sides")
    code, out, err = _gate(capsys, a, b, "--fail-slower", "10%", "--allow-missing")
    assert code == 0 and err == ""
    assert "ok: no case of b.json is slower" in out and "1 unmatched case(s) ignored" in out


@pytest.mark.parametrize("side", ["a", "b"])
def test_a_case_missing_on_either_side_fails_the_gate(tmp_path, capsys, side) -> None:
    full = [result("eager", 0.002), result("onnxruntime", 0.001)]
    write_json(tmp_path / "a.json", {}, full if side == "b" else full[:1])
    write_json(tmp_path / "b.json", {}, full if side == "a" else full[:1])
    code, out, err = _gate(capsys, tmp_path / "a.json", tmp_path / "b.json",
                           "--fail-slower", "10%")
    assert code == 2 and f"only in {'a' if side == 'b' else 'b'}.json: cbam-channel " \
                         "onnxruntime" in out
    _one_line_error(err, "not timed on both sides")


def test_exit_1_means_slower_even_when_a_case_is_also_missing(tmp_path, capsys) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(a, {}, [result("eager", 0.002), result("onnxruntime", 0.001)])
    write_json(b, {}, [result("eager", 0.004), _failed("onnxruntime")])
    code, out, _ = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 1 and "SLOWER by 100%" in out and "failed in b.json" in out


def test_a_duplicate_case_is_ambiguous(pair, capsys) -> None:
    a, b = pair
    write_json(b, {}, [result("eager", 0.002), result("eager", 0.004)])
    code, _, err = _gate(capsys, a, b, "--fail-slower", "10%")
    assert code == 2
    _one_line_error(err, "b.json has the case cbam-channel eager cpu float32 8 twice")


@pytest.mark.parametrize("bare", ["10", "0.1"])
def test_a_threshold_needs_its_unit(pair, capsys, bare) -> None:
    """A bare 10 used to mean 1000%: a gate that passes nearly everything."""
    a, b = pair
    code, out, err = _gate(capsys, a, b, "--fail-slower", bare)
    assert code == 2 and out == ""
    _one_line_error(err, "needs its unit, e.g. 10%")


def test_allow_missing_needs_a_gate(pair, capsys) -> None:
    a, b = pair
    code, _, err = _gate(capsys, a, b, "--allow-missing")
    assert code == 2
    _one_line_error(err, "--allow-missing goes with --fail-slower")
