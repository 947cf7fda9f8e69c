"""Detached Ed25519 signatures of a whole artifact folder (``sign`` / ``verify --public-key``).

Checksums prove that files match the manifest, not who wrote them: an attacker who replaces the
weights, the model and the manifest together leaves a folder that is consistent. A signature
made with a private key the attacker does not have is what catches that. The signed payload
lists the sha256 of **every** file in the folder (the manifest included, ``signature.json``
excluded), so a changed byte, a re-written manifest, an added or a removed file all fail.

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
MAX_HASHED_BYTES = 1 << 32


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingDependencyError(
            "signing needs cryptography: pip install 'chanattn_export[sign]'") from None
    return serialization, ed25519


def folder_digests(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root`` (relative POSIX paths), but the signature."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel == SIGNATURE or p.is_dir():
            continue
        if p.is_symlink() or not p.is_file():
            out[rel] = "not-a-regular-file"
            continue
        try:
            out[rel] = sha256_file(p, limit=MAX_HASHED_BYTES)
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{p}: cannot hash for the signature: {e}") from None
    return out


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
            payload = json.dumps({"format": PAYLOAD_FORMAT, "version": 1,
                                  "files": folder_digests(root)}, sort_keys=True)
            sig = key.sign(payload.encode())
            doc = {"algorithm": "ed25519", "payload": payload,
                   "signature": base64.b64encode(sig).decode()}
            return write_atomic(root / SIGNATURE, (json.dumps(doc, indent=2) + "\n").encode())
    except OSError as e:
        raise ArtifactError(f"cannot write {root / SIGNATURE}: {e.strerror or e}") from None


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

    from ..fileio.bounded import SIGNATURE_MAX_BYTES, read_bounded

    path = root / SIGNATURE
    if not path.exists() and not path.is_symlink():
        return [f"{SIGNATURE}: missing: the folder is not signed (sign DIR --key KEY)"], None
    try:
        if path.stat().st_size > SIGNATURE_MAX_BYTES:
            return [f"{SIGNATURE}: larger than any signature this toolkit writes"], None
        doc = json.loads(read_bounded(path, SIGNATURE_MAX_BYTES, "signature"))
    except ArtifactError as e:
        return [f"{SIGNATURE}: {str(e).removeprefix(f'{path}: ')}"], None
    except OSError as e:
        return [f"{SIGNATURE}: unreadable: {e.strerror or e}"], None
    except (ValueError, RecursionError) as e:
        first = str(e).splitlines()[0] if str(e) else repr(e)
        return [f"{SIGNATURE}: unreadable: {first}"], None
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str) \
            or not isinstance(doc.get("signature"), str):
        return [f"{SIGNATURE}: not a signature written by this toolkit"], None
    try:
        key.verify(base64.b64decode(doc["signature"], validate=True), doc["payload"].encode())
    except (InvalidSignature, ValueError):
        return [f"{SIGNATURE}: does not verify with {public_key}: signed by another key, or "
                "the signature or its file list was edited"], None
    try:
        signed = json.loads(doc["payload"]).get("files", {})
    except (ValueError, AttributeError, RecursionError):
        return [f"{SIGNATURE}: its payload is not a file list"], None
    if not isinstance(signed, dict) or not all(isinstance(v, str) for v in signed.values()):
        return [f"{SIGNATURE}: its payload is not a file list"], None
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


__all__ = ["SIGNATURE", "check_signature", "folder_digests", "generate_key", "sign_folder",
           "signed_digests"]
