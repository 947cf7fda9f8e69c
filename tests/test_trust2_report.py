"""``report`` reads a folder and results files it did not write: each file once and bounded,
and every refusal (a malformed results file, an ``--out`` it cannot write) is one line, exit 2,
with nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bench_helpers import result
from reliability_helpers import ONNX_NAME, cli, read_manifest, write_manifest

from chanattn_export.bench.files import write_json
from chanattn_export.cli import main


def _report(capsys, folder: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["report", str(folder), "--out", str(out), *extra])
    return code, capsys.readouterr().err


def _one_line(err: str, needle: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    return write_json(tmp_path / "bench.json", {"cpu_model": "CPU"},
                      [result("eager", 0.002), result("onnxruntime", 0.001)])


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


BAD_BENCH = [
    ("text median, old layout", lambda d: {"machine": {}, "results": [
        {**d["benchmarks"][0]["extra_info"], "median_ms": "fast"}]},
     "results[0]: median_ms must be a finite number >= 0; got 'fast'"),
    ("text timing", lambda d: d["benchmarks"][0]["stats"]["data"].__setitem__(0, "0.002"),
     "benchmarks[0]: stats.data[0] must be a finite number >= 0; got '0.002'"),
    ("machine_info a list", lambda d: d.__setitem__("machine_info", [1, 2]),
     "'machine_info' must be an object"),
    ("our block a list", lambda d: d.__setitem__("chanattn_export", [1]),
     "the 'chanattn_export' block must be an object"),
    ("untimed record a number", lambda d: d["chanattn_export"].__setitem__("untimed", [3]),
     "chanattn_export.untimed[0] is not an object"),
    ("extra_info text batch", lambda d: d["benchmarks"][0]["extra_info"].__setitem__(
        "batch_size", "8"), "benchmarks[0]: batch_size must be an integer >= 0"),
]


@pytest.mark.parametrize(("change", "needle"), [(c, n) for _, c, n in BAD_BENCH],
                         ids=[i for i, _, _ in BAD_BENCH])
def test_a_malformed_results_file_is_one_line(pristine, bench, tmp_path, capsys, change,
                                              needle):
    doc = json.loads(bench.read_text())
    new = change(doc)
    bench.write_text(json.dumps(new if isinstance(new, dict) else doc))
    code, err = _report(capsys, pristine, tmp_path / "r.html", "--bench", str(bench))
    assert code == 2 and not (tmp_path / "r.html").exists()
    _one_line(err, needle)


def test_deeply_nested_results_file_is_one_line(pristine, bench, tmp_path, capsys):
    doc = json.loads(bench.read_text())
    text = json.dumps(doc)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    bench.write_text(text)
    code, err = _report(capsys, pristine, tmp_path / "r.html", "--bench", str(bench))
    assert code == 2
    _one_line(err, "not a JSON results file (nested 100001 levels deep")


def test_an_out_under_a_regular_file_is_one_line(pristine, tmp_path, capsys):
    (tmp_path / "file").write_text("keep me")
    code, err = _report(capsys, pristine, tmp_path / "file" / "sub" / "report.html")
    assert code == 2
    _one_line(err, f"{tmp_path / 'file'} is not a folder; nothing was written")
    assert (tmp_path / "file").read_text() == "keep me"
    code, err = _report(capsys, pristine, tmp_path / "new" / "sub" / "r.html")
    assert code == 0 and (tmp_path / "new" / "sub" / "r.html").is_file()


def test_a_fifo_manifest_or_results_file_is_refused_without_blocking(folder, bench, tmp_path):
    os.mkfifo(tmp_path / "fifo.json")
    p = cli("report", str(folder), "--bench", str(tmp_path / "fifo.json"), "--out",
            str(tmp_path / "r.html"), timeout=60)
    assert p.returncode == 2
    _one_line(p.stderr, "the results file is not a regular file (a FIFO)")
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    p = cli("report", str(folder), "--out", str(tmp_path / "r.html"), timeout=60)
    assert p.returncode == 2
    _one_line(p.stderr, "the manifest is not a regular file (a FIFO)")


@pytest.mark.parametrize("parity", [
    {"checks": [{"backend": "b", "case": "c", "shape": [1], "max_abs": 0, "max_rel": 0,
                 "needed_atol": "tiny", "nan_mismatch": 0, "passed": True}],
     "atol": 1e-5, "rtol": 1e-4},
    {"checks": [], "atol": 1e-5, "rtol": 1e-4, "skipped": ["gpu"]},
    {"checks": "none", "atol": 1e-5, "rtol": 1e-4},
])
def test_a_malformed_parity_record_is_shown_in_the_page(folder, tmp_path, capsys, parity):
    m = read_manifest(folder)
    next(a for a in m["artifacts"] if a["path"] == ONNX_NAME)["parity"] = parity
    write_manifest(folder, m)
    code, err = _report(capsys, folder, tmp_path / "r.html")
    assert code == 0, err
    assert "unreadable parity record" in (tmp_path / "r.html").read_text()
