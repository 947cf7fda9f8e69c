"""torch.export programs (.pt2): the third format, with the same parity, manifest and verify."""

from __future__ import annotations

import pytest
from reliability_helpers import TINY

from chanattn_export import api
from chanattn_export.artifacts import ArtifactFolder
from chanattn_export.check.inspect import inspect_path
from chanattn_export.check.verify import verify_folder

NAME = "cbam-nchw-c8-r8-dynhw.pt2"


@pytest.fixture(scope="module")
def pt2_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("pt2")
    res = api.export_pt2("cbam", out=out, dynamic_hw=True, **TINY)
    assert res.path.name == NAME
    return out, res


def test_export_passes_parity_at_unseen_batches_and_sizes(pt2_folder):
    _, res = pt2_folder
    assert res.passed and res.exporter == "torch.export"
    assert res.parity.backends() == ["torch-export-cpu"]
    shapes = {c.shape for c in res.parity.checks}
    assert {s[0] for s in shapes} == {1, 2, 3}  # batch 1, the traced 2, and 3
    assert len({s[2:] for s in shapes}) == 2  # the export H x W and another one


def test_manifest_verify_and_parity_dir(pt2_folder, tmp_path):
    import shutil

    out, _ = pt2_folder
    (entry,) = ArtifactFolder(out).read_manifest().entries
    assert str(entry.format) == "pt2" and entry.exporter == "torch.export" and entry.passed
    assert verify_folder(out) == []
    (check,) = api.check_parity(out)
    assert check.parity.passed
    bad = shutil.copytree(out, tmp_path / "bad")
    data = bytearray((bad / NAME).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / NAME).write_bytes(bytes(data))
    assert [p.path for p in verify_folder(bad)] == [NAME]


def test_a_wrong_program_fails_parity(monkeypatch, tmp_path):
    """The check can fail: a program exported from other weights is caught and marked failed."""
    from chanattn_export.export import subject
    from chanattn_export.registry import build_model

    real = subject.export_bytes
    monkeypatch.setattr(subject, "export_bytes",
                        lambda net, spec: real(build_model(spec.model, None, 1), spec))
    res = api.export_pt2("se", out=tmp_path, **TINY)
    assert not res.passed and not res.written
    assert ArtifactFolder(tmp_path).read_manifest().entries == ()  # a failed export is not written


def test_cli_command_and_inspect(pt2_folder, tmp_path, capsys):
    from chanattn_export.cli import main

    rc = main(["pt2", "--model", "eca", "--layout", "nhwc", "--channels", "8", "--height", "8",
               "--width", "8", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "torch.export program" in out and "torch-export-cpu" in out and "PASS" in out
    out_dir, _ = pt2_folder
    (a,) = inspect_path(out_dir)["artifacts"]
    assert a["format"] == "pt2" and a["archive"]["zip"] and a["archive"]["loaded"] is False
