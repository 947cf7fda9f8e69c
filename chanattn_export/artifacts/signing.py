"""Detached Ed25519 signatures of a whole artifact folder (``sign`` / ``verify --public-key``).

Checksums prove that files match the manifest, not who wrote them: an attacker who replaces the
weights, the model and the manifest together leaves a folder that is consistent. A signature
made with a private key the attacker does not have is what catches that. The signed payload
lists the sha256 of every file in the folder (the manifest and SHA256SUMS included,
``signature.json`` excluded) **except hidden ones**: a path with a component starting with
``.`` (``.gitignore``, an editor's swap file) is neither signed nor checked, because copies
drop them (``cp DIR/* elsewhere/``) and nothing in the toolkit reads them. A file the manifest
names is covered twice: by its own entry and by its sha256 in the signed manifest. So a
changed byte, a re-written manifest, an added or a removed (non-hidden) file all fail.

Payload version 2 also records the signer's key fingerprint (``sha256:`` of the public key's
DER SubjectPublicKeyInfo, as ``openssl pkey -pubin -outform DER | sha256sum`` prints it), so
``inspect`` can say who signed without the key. Version 1 payloads (no fingerprint, hidden
files listed) still verify: their hidden entries are skipped as well.

Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public), as ``openssl genpkey
-algorithm ed25519`` writes them, and never live inside the folder. Needs ``cryptography``
(``pip install chanattn_export[sign]``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path

from ..errors import ArtifactError, MissingDependencyError
from ..fileio import sha256_file, write_atomic
from .manifest import MANIFEST

SIGNATURE = "signature.json"
PAYLOAD_FORMAT = "chanattn_export-folder-signature"
PAYLOAD_VERSION = 2  # 1: every file, hidden ones included, no key fingerprint
MAX_HASHED_BYTES = 1 << 32


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingDependencyError(
            "signing needs cryptography: pip install 'chanattn_export[sign]'") from None
    return serialization, ed25519


def hidden(rel: str) -> bool:
    """A path with a hidden component: not covered by a signature (see the module docstring)."""
    return any(part.startswith(".") for part in rel.split("/"))


def folder_digests(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root`` (relative POSIX paths), but the signature
    and hidden files."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel == SIGNATURE or hidden(rel) or p.is_dir():
            continue
        if p.is_symlink() or not p.is_file():
            out[rel] = "not-a-regular-file"
            continue
        try:
            out[rel] = sha256_file(p, limit=MAX_HASHED_BYTES)
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{p}: cannot hash for the signature: {e}") from None
    return out


def key_fingerprint(public_key) -> str:
    """``sha256:<hex>`` of the public key's DER SubjectPublicKeyInfo."""
    import hashlib

    serialization, _ = _crypto()
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def generate_key(private: Path) -> Path:
    """Write a new Ed25519 key pair: ``private`` (mode 0600) and ``private`` + ``.pub``.

    Neither file may exist (a key is never overwritten: the old one may have signed releases,
    and a ``.pub`` replaced under a kept private key breaks every later verify). A missing
    parent folder is created with mode 0700. Both files are created exclusively; if the second
    cannot be written, the first is removed, so a pair is written whole or not at all.
    """
    serialization, ed25519 = _crypto()
    public = private.with_name(private.name + ".pub")
    if (private.parent / MANIFEST).exists():
        raise ArtifactError(f"{private.parent} is an artifact folder: keep keys outside it")
    for p in (private, public):
        if os.path.lexists(p):
            raise ArtifactError(f"{p} exists; refusing to overwrite a key (choose another name "
                                "or move the old pair away)")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        private.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ArtifactError(f"cannot create the key folder {private.parent}: "
                            f"{e.strerror or e}") from None
    written: list[Path] = []
    try:
        for path, data, mode in ((private, pem, 0o600), (public, pub, 0o644)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            written.append(path)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    except BaseException as e:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        if isinstance(e, OSError):
            raise ArtifactError(f"cannot write key {e.filename or private}: "
                                f"{e.strerror or e}; no key was written") from None
        raise
    return public


def _read_key(path: Path, private: bool):
    serialization, ed25519 = _crypto()
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"cannot read key {path}: {e.strerror or e}") from None
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as e:
        kind = "private" if private else "public"
        raise ArtifactError(f"{path} is not a PEM {kind} key: {e}") from None
    want = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, want):
        raise ArtifactError(f"{path} is not an Ed25519 key")
    return key


def sign_folder(root: Path, key_path: Path) -> Path:
    """Sign every file of ``root`` with the private key; writes ``root/signature.json``."""
    if not (root / MANIFEST).is_file():
        raise ArtifactError(f"{root}: no manifest.json (not an artifact folder?)")
    if _inside(key_path, root):
        raise ArtifactError(f"{key_path} is inside the artifact folder: keys never ship in it")
    key = _read_key(key_path, private=True)
    from .folder import LOCK_TIMEOUT_S
    from .lock import flocked

    try:  # exclusive: no export changes the folder between hashing and writing
        with flocked(root, exclusive=True, timeout_s=LOCK_TIMEOUT_S):
            payload = json.dumps({"format": PAYLOAD_FORMAT, "version": PAYLOAD_VERSION,
                                  "key_sha256": key_fingerprint(key.public_key()),
                                  "files": folder_digests(root)}, sort_keys=True)
            sig = key.sign(payload.encode())
            doc = {"algorithm": "ed25519", "payload": payload,
                   "signature": base64.b64encode(sig).decode()}
            return write_atomic(root / SIGNATURE, (json.dumps(doc, indent=2) + "\n").encode())
    except OSError as e:
        raise ArtifactError(f"cannot write {root / SIGNATURE}: {e.strerror or e}") from None


def read_signature(root: Path) -> tuple[dict | None, str | None]:
    """The folder's ``signature.json`` document, or None and why it cannot be used (one line,
    without the file name); read bounded. Torch-free and cryptography-free: ``inspect``
    describes it."""
    from ..fileio.bounded import SIGNATURE_MAX_BYTES, read_bounded

    path = root / SIGNATURE
    if not path.exists() and not path.is_symlink():
        return None, "missing: the folder is not signed (sign DIR --key KEY)"
    try:
        if path.stat().st_size > SIGNATURE_MAX_BYTES:
            return None, "larger than any signature this toolkit writes"
        doc = json.loads(read_bounded(path, SIGNATURE_MAX_BYTES, "signature"))
    except ArtifactError as e:
        return None, str(e).removeprefix(f"{path}: ")
    except OSError as e:
        return None, f"unreadable: {e.strerror or e}"
    except (ValueError, RecursionError) as e:
        first = str(e).splitlines()[0] if str(e) else repr(e)
        return None, f"unreadable: {first}"
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str) \
            or not isinstance(doc.get("signature"), str):
        return None, "not a signature written by this toolkit"
    return doc, None


def payload_of(doc: dict) -> dict | None:
    """The signed payload as a dict whose ``files`` maps paths to sha256 strings, or None."""
    try:
        payload = json.loads(doc["payload"])
    except (ValueError, RecursionError):
        return None
    files = payload.get("files", {}) if isinstance(payload, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return None
    return payload


def check_signature(root: Path, public_key: Path) -> list[str]:
    """Problems (one line each, relative path first) of ``root`` against its signature and the
    public key; empty when every file is exactly what the key's holder signed."""
    return signed_digests(root, public_key)[0]


def signed_digests(root: Path, public_key: Path) -> tuple[list[str], dict[str, str] | None]:
    """``(problems, digests)``: the problems of :func:`check_signature`, and the sha256 of every
    file as the key's holder signed it (None when the signature itself does not verify).

    A reader that then loads a file must check *the bytes it loads* against these digests: a
    file swapped after this hashing pass would otherwise run unsigned (``check.files``)."""
    key = _read_key(public_key, private=False)
    from cryptography.exceptions import InvalidSignature

    doc, why = read_signature(root)
    if doc is None:
        return [f"{SIGNATURE}: {why}"], None
    try:
        key.verify(base64.b64decode(doc["signature"], validate=True), doc["payload"].encode())
    except (InvalidSignature, ValueError):
        return [f"{SIGNATURE}: does not verify with {public_key}: signed by another key, or "
                "the signature or its file list was edited"], None
    payload = payload_of(doc)
    if payload is None:
        return [f"{SIGNATURE}: its payload is not a file list"], None
    # hidden files are not covered (a version 1 payload lists them: a copy may have dropped them)
    signed = {rel: sha for rel, sha in payload.get("files", {}).items() if not hidden(rel)}
    from .folder import LOCK_TIMEOUT_S
    from .lock import flocked

    with flocked(root, exclusive=False, timeout_s=LOCK_TIMEOUT_S):
        now = folder_digests(root)
    problems = [f"{rel}: changed since the folder was signed" for rel in sorted(signed)
                if rel in now and now[rel] != signed[rel]]
    problems += [f"{rel}: removed since the folder was signed" for rel in sorted(signed)
                 if rel not in now]
    problems += [f"{rel}: added since the folder was signed (not covered by the signature)"
                 for rel in sorted(now) if rel not in signed]
    return problems, dict(signed)


def describe_signature(root: Path, public_key: Path | None = None) -> dict:
    """What ``inspect`` says about the folder's signature: present or not, the signer's key
    fingerprint (payload version 2), how many files it covers and, with ``public_key``,
    whether it still matches (``valid`` and the problems, as ``verify --public-key``)."""
    doc, why = read_signature(root)
    out: dict = {"file": SIGNATURE, "present": (root / SIGNATURE).exists(),
                 "usable": doc is not None, "reason": why, "key_sha256": None,
                 "payload_version": None, "files": None, "checked_with": None, "valid": None,
                 "problems": []}
    if doc is not None:
        payload = payload_of(doc) or {}
        fp = payload.get("key_sha256")
        out.update(key_sha256=fp if isinstance(fp, str) else None,
                   payload_version=payload.get("version"),
                   files=len(payload.get("files") or {}) if payload else None)
    if public_key is not None:
        problems = check_signature(root, Path(public_key))
        key = _read_key(Path(public_key), private=False)
        out.update(checked_with=str(public_key), valid=not problems, problems=problems,
                   checked_key_sha256=key_fingerprint(key))
    return out


__all__ = ["SIGNATURE", "check_signature", "describe_signature", "folder_digests", "generate_key",
           "hidden", "key_fingerprint", "read_signature", "sign_folder", "signed_digests"]
