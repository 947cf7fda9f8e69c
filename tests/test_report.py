"""``report DIR``: one self-contained page, escaped, rendered by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bench_helpers import result

from chanattn_export.bench.files import write_json
from chanattn_export.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture
def bench_json(tmp_path: Path) -> Path:
    rs = [result(b, t, n) for b, t in (("eager", 0.004), ("onnxruntime", 0.002))
          for n in (1, 8)]
    return write_json(tmp_path / "bench" / "bench.json", {"cpu_model": "Test CPU"}, rs)


def _page(folder: Path, bench: Path | None, out: Path) -> str:
    argv = ["report", str(folder), "--out", str(out)]
    if bench is not None:
        argv += ["--bench", str(bench)]
    assert main(argv) == 0
    return out.read_text(encoding="utf-8")


def test_report_has_every_artifact_check_checksum_and_benchmark(
        folder: Path, bench_json: Path, tmp_path: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    page = _page(folder, bench_json.parent, tmp_path / "report.html")
    for a in manifest["artifacts"]:
        assert a["path"] in page and a["versions"]["torch"] in page
        for f in a["files"]:
            assert f["sha256"] in page
        checks = a["parity"]["checks"]
        worst = max(c["needed_atol"] for c in checks)
        assert f"worst needed_atol {worst:.1e}" in page
    n_checks = sum(len(a["parity"]["checks"]) for a in manifest["artifacts"])
    assert page.count('<tr><td>onnxruntime-cpu</td>') + page.count(
        '<tr><td>torchscript-cpu</td>') == n_checks  # every check is a row
    assert page.count("<tr><td>cbam-channel</td><td>") == 4  # the 4 benchmark rows
    assert "p99_ms" in page and "Test CPU" in page and "bench.json" in page
    assert page.count('src="data:image/png;base64,') == 1


def test_report_is_self_contained(folder: Path, bench_json: Path, tmp_path: Path) -> None:
    page = _page(folder, bench_json, tmp_path / "r.html")
    assert "default-src 'none'" in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_report_escapes_manifest_text(folder: Path, tmp_path: Path) -> None:
    """The manifest is untrusted: markup in it is shown as text, never run."""
    path = folder / "manifest.json"
    doc = json.loads(path.read_text())
    doc["artifacts"][0]["versions"]["torch"] = "<script>alert(1)</script>"
    doc["artifacts"][0]["exporter"] = '"><img src=x onerror=alert(1)>'
    path.write_text(json.dumps(doc))
    page = _page(folder, None, tmp_path / "r.html")
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "{missing}"], "no such folder"),
    (["report", "{folder}", "--bench", "{missing}"], "no such file or folder"),
])
def test_report_bad_input_one_line_exit_2(folder: Path, tmp_path: Path, argv: list[str],
                                          message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.format(folder=folder, missing=tmp_path / "nope") for a in argv]
    assert main([*args, "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "r.html").exists()


def _browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium installed (Debian: apt-get "
                    "install chromium); CI installs it")
def test_chromium_renders_the_report(folder: Path, bench_json: Path, tmp_path: Path) -> None:
    """A real browser loads the page with no console message (a blocked request or a CSP
    violation would print one), shows every table row, and draws a screenshot."""
    page_path = tmp_path / "report.html"
    page = _page(folder, bench_json, page_path)
    base = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--enable-logging=stderr", "--v=0"]
    url = page_path.as_uri()
    dom = subprocess.run([*base, f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert ":CONSOLE" not in dom.stderr, dom.stderr[-2000:]
    assert dom.stdout.count("<tr") == page.count("<tr") > 30
    assert "chanattn_export report" in dom.stdout and "data:image/png;base64," in dom.stdout
    shot = tmp_path / "shot.png"
    r = subprocess.run([*base, f"--user-data-dir={tmp_path / 'p2'}", f"--screenshot={shot}",
                        "--window-size=1200,900", url], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG", r.stderr[-2000:]
