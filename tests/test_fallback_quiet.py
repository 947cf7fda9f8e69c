"""When dynamo cannot export a network and the legacy exporter takes over, the user sees one
``note:`` line saying why (kept in the manifest's ``fallback_reason``), not torch's ~32 lines of
``torch._guards`` traceback; ``--verbose`` shows them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from reliability_helpers import cli

from chanattn_export.export.fallback import needed_ranges, reason

# A stand-in for timm's ese_vovnet19b_dw: a stride-4 stem, then stride-2 ceil_mode pools, so
# torch.export can keep H and W dynamic only from 29 up (the last pool needs 2 rows).
STAND_IN = textwrap.dedent("""
    from torch import nn

    class StandIn(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, 2, 1))
            self.pools = nn.Sequential(*[nn.MaxPool2d(3, 2, ceil_mode=True) for _ in range(3)])

        def forward(self, x):
            return self.pools(self.stem(x)).mean((2, 3))
""")
ARGS = ("--input-shape", "1,3,64,64", "--dynamic-hw", "--runtimes", "onnxruntime")
WHY = "torch.export needs 29 <= height, 29 <= width, but the export declares every size from 1"


def _export(tmp_path: Path, *extra: str):
    (tmp_path / "standin.py").write_text(STAND_IN)
    out = tmp_path / "art"
    return cli("onnx", "--network", f"{tmp_path / 'standin.py'}:StandIn", *ARGS, "--out",
               str(out), *extra, timeout=300), out


def test_legacy_fallback_is_one_line_and_recorded(tmp_path: Path) -> None:
    proc, out = _export(tmp_path)
    assert proc.returncode == 0, proc.stderr
    # stderr: the three progress lines and nothing of torch's
    assert [ln.split(" ")[0] for ln in proc.stderr.splitlines()] == \
        ["running", "exporting", "checking"], proc.stderr
    notes = [ln for ln in proc.stdout.splitlines() if "note:" in ln]
    assert notes == [f"  note: fell back to the legacy exporter: dynamo exporter failed: {WHY}"]
    (entry,) = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert entry["exporter"] == "legacy"
    assert entry["fallback_reason"] == f"dynamo exporter failed: {WHY}"


def test_verbose_shows_what_torch_said(tmp_path: Path) -> None:
    proc, _ = _export(tmp_path, "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "dynamo exporter failed on standin-nchw-c3-dynhw.onnx" in proc.stderr
    assert "torch._guards" in proc.stderr and "Constraints violated" in proc.stderr
    assert "\x1b[" not in proc.stderr  # torch's colour codes are not passed on


def test_reason_reads_the_ranges_torch_logged() -> None:
    logged = ("torch._guards ERROR: - Not all values of height = L['x'].size()[2] in the "
              "specified range satisfy the generated guard 29 <= L['x'].size()[2] and "
              "L['x'].size()[2] <= IntInfinity()\n")
    assert needed_ranges(logged) == ["29 <= height"]
    assert reason(RuntimeError("x"), logged).startswith("torch.export needs 29 <= height,")
    summary = RuntimeError("Failed. \x1b[96mstep 1/3\x1b[0m\n## Exception summary\n\n"
                           "<class 'AssertionError'>: boom\n")
    assert reason(summary) == "<class 'AssertionError'>: boom"
    assert reason(RuntimeError("\n first\nsecond")) == "first"


def test_quiet_keeps_torch_logs_per_thread_and_restores_the_handlers() -> None:
    import logging
    import threading

    import torch  # noqa: F401  (installs torch's log handlers)

    from chanattn_export.quiet import quiet

    guards = logging.getLogger("torch._guards")
    before = logging.getLogger("torch").handlers[:]
    seen: list[tuple[int, str, str]] = []

    def work(i: int) -> None:
        with quiet() as outer:
            with quiet() as inner:
                guards.error("inner %d", i)
            guards.error("outer %d", i)
        seen.append((i, outer.getvalue(), inner.getvalue()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert logging.getLogger("torch").handlers == before  # stderr again afterwards
    assert len(seen) == 6
    for i, outer, inner in seen:  # each thread's records in its own (innermost) buffer
        assert f"outer {i}" in outer and inner.strip().endswith(f"inner {i}")
