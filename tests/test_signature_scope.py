"""What a folder signature covers, and what ``inspect`` says about it.

A signature covers every file of the folder but hidden ones (a path component starting with
``.``): ``cp DIR/* elsewhere/`` drops dotfiles, and a copy of a signed folder must still verify.
A file an attacker adds (not hidden) is still caught (tests/test_trust.py, test_artifacts_unit).
``inspect`` names the signer's key fingerprint and, with ``--public-key``, whether it matches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from reliability_helpers import ONNX_NAME

from chanattn_export.artifacts.signing import (
    PAYLOAD_FORMAT,
    SIGNATURE,
    check_signature,
    folder_digests,
    generate_key,
    sign_folder,
)
from chanattn_export.cli import main

pytest.importorskip("cryptography")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "keys" / "signer.pem"
    key.parent.mkdir()
    return key, generate_key(key)


def _fingerprint(pub: Path) -> str:
    """What ``openssl pkey -pubin -in PUB -outform DER | sha256sum`` prints."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pub.read_bytes())
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _copy_like_cp_star(src: Path, dst: Path) -> Path:
    """``cp -r src/* dst/``: the shell's ``*`` skips names starting with a dot."""
    dst.mkdir()
    for p in src.iterdir():
        if not p.name.startswith("."):
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, dst / p.name)
    return dst


def test_a_copy_without_the_dotfiles_verifies(folder: Path, keys, tmp_path: Path,
                                              capsys) -> None:
    (folder / ".gitignore").write_text("*\n")  # as the repository keeps in artifacts/
    assert main(["sign", str(folder), "--key", str(keys[0])]) == 0
    signed = json.loads(json.loads((folder / SIGNATURE).read_text())["payload"])["files"]
    assert ".gitignore" not in signed and "manifest.json" in signed and ONNX_NAME in signed
    copy = _copy_like_cp_star(folder, tmp_path / "elsewhere")
    assert not (copy / ".gitignore").exists()
    assert check_signature(copy, keys[1]) == []
    capsys.readouterr()
    assert main(["verify", str(copy), "--public-key", str(keys[1])]) == 0, capsys.readouterr()


def test_hidden_files_are_not_covered_but_every_other_added_file_is(folder: Path, keys) -> None:
    sign_folder(folder, keys[0])
    (folder / ".DS_Store").write_bytes(b"x")
    (folder / "sub").mkdir()
    (folder / "sub" / ".hidden").write_bytes(b"x")
    assert check_signature(folder, keys[1]) == []
    (folder / "notes.txt").write_text("added")
    (folder / "sub" / "evil.onnx").write_bytes(b"x")
    assert check_signature(folder, keys[1]) == [
        "notes.txt: added since the folder was signed (not covered by the signature)",
        "sub/evil.onnx: added since the folder was signed (not covered by the signature)"]


def _sign_v1(root: Path, key_path: Path) -> None:
    """A signature as the previous release wrote it: version 1, every file (dotfiles too)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file() and p.name != SIGNATURE}
    payload = json.dumps({"format": PAYLOAD_FORMAT, "version": 1, "files": files},
                         sort_keys=True)
    doc = {"algorithm": "ed25519", "payload": payload,
           "signature": base64.b64encode(key.sign(payload.encode())).decode()}
    (root / SIGNATURE).write_text(json.dumps(doc))


def test_an_old_signature_still_verifies_after_a_copy_and_still_catches_changes(
        folder: Path, keys, tmp_path: Path) -> None:
    (folder / ".gitignore").write_text("*\n")
    _sign_v1(folder, keys[0])
    assert ".gitignore" in json.loads(json.loads((folder / SIGNATURE).read_text())["payload"])[
        "files"]
    copy = _copy_like_cp_star(folder, tmp_path / "elsewhere")
    assert check_signature(copy, keys[1]) == []
    (copy / ONNX_NAME).write_bytes(b"changed")
    (copy / "SHA256SUMS").unlink()
    assert check_signature(copy, keys[1]) == [
        f"{ONNX_NAME}: changed since the folder was signed",
        "SHA256SUMS: removed since the folder was signed"]


def test_signed_payload_never_lists_hidden_files(folder: Path, keys) -> None:
    (folder / ".gitignore").write_text("*\n")
    sign_folder(folder, keys[0])
    assert not [rel for rel in folder_digests(folder) if rel.startswith(".")]


# -- inspect ---------------------------------------------------------------------------------


def _inspect(capsys, *argv: str) -> tuple[int, str]:
    code = main(["inspect", *argv])
    return code, capsys.readouterr().out


def test_inspect_names_the_signer_of_a_signed_folder(folder: Path, keys, capsys) -> None:
    assert main(["sign", str(folder), "--key", str(keys[0])]) == 0
    capsys.readouterr()
    code, out = _inspect(capsys, str(folder))
    head = out.splitlines()[0]
    assert code == 0 and "unsigned" not in head
    assert f"signature: signed by key {_fingerprint(keys[1])}; not checked" in head
    code, out = _inspect(capsys, str(folder), "--json")
    info = json.loads(out)["signature_info"]
    assert info["present"] and info["key_sha256"] == _fingerprint(keys[1])
    assert info["valid"] is None and info["files"] == len(folder_digests(folder))


def test_inspect_with_the_public_key_says_whether_it_still_matches(folder: Path, keys,
                                                                   tmp_path: Path,
                                                                   capsys) -> None:
    sign_folder(folder, keys[0])
    code, out = _inspect(capsys, str(folder), "--public-key", str(keys[1]))
    assert code == 0 and f"; valid with {keys[1]}" in out.splitlines()[0]
    (folder / "extra.onnx").write_bytes(b"x")
    code, out = _inspect(capsys, str(folder), "--public-key", str(keys[1]), "--json")
    info = json.loads(out)["signature_info"]
    assert code == 1 and info["valid"] is False
    assert info["problems"] == [
        "extra.onnx: added since the folder was signed (not covered by the signature)"]
    other = generate_key(tmp_path / "keys" / "other.pem")
    code, out = _inspect(capsys, str(folder), "--public-key", str(other))
    assert code == 1 and f"DOES NOT MATCH {other}: {SIGNATURE}: does not verify" in out


def test_inspect_of_an_unsigned_folder(folder: Path, keys, capsys) -> None:
    code, out = _inspect(capsys, str(folder))
    assert code == 0 and "signature: unsigned" in out
    code, out = _inspect(capsys, str(folder), "--public-key", str(keys[1]))
    assert code == 1 and f"signature: unsigned: no {SIGNATURE} to check with" in out


def test_inspect_of_an_unusable_signature_file(folder: Path, capsys) -> None:
    (folder / SIGNATURE).write_text("{")
    code, out = _inspect(capsys, str(folder))
    assert code == 0 and f"signature: {SIGNATURE} present but unusable: unreadable: " in out
