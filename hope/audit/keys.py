"""Ed25519 audit keys: create, rotate, load, sign checkpoint notes, verify them.

Layout under ``<state>/keys/`` (0700): ``audit.key`` (private, PEM, 0600), ``audit.pub`` (raw
public key, base64, one line) and, for every key ever used, ``audit-<hex>.pub`` so that records
signed before a rotation stay verifiable. The key id is ``"ed25519:" + sha256(raw public)[:32 hex]``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE = "audit.key"
PUBLIC = "audit.pub"


class AuditKeyError(RuntimeError):
    """A key that is missing, unreadable or malformed; the message names the file."""


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(pub: Ed25519PublicKey) -> str:
    return "ed25519:" + hashlib.sha256(_raw(pub)).hexdigest()[:32]


def encode_public(pub: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw(pub)).decode()


def decode_public(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))


@dataclass
class Signer:
    private: Ed25519PrivateKey
    public_b64: str
    key_id: str

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


def verify_signature(public_b64: str, message: bytes, sig_b64: str) -> bool:
    try:
        decode_public(public_b64).verify(base64.b64decode(sig_b64, validate=True), message)
        return True
    except (InvalidSignature, ValueError):
        return False


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _prepare(keys_dir: Path) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)


def _install(keys_dir: Path) -> Signer:
    priv = Ed25519PrivateKey.generate()
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = priv.public_key()
    kid = key_id(pub)
    _write_public(keys_dir / f"audit-{kid.split(':')[1]}.pub", encode_public(pub))
    _write_private(keys_dir / PRIVATE, pem)
    _write_public(keys_dir / PUBLIC, encode_public(pub))
    dfd = os.open(keys_dir, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return Signer(priv, encode_public(pub), kid)


def init_keys(keys_dir: Path, *, force: bool = False) -> tuple[Signer, bool]:
    """Create the key pair unless one exists; return (signer, created)."""
    _prepare(keys_dir)
    if (keys_dir / PRIVATE).exists() and not force:
        return load_signer(keys_dir), False
    return _install(keys_dir), True


def rotate_keys(keys_dir: Path) -> tuple[str | None, Signer]:
    """Replace the signing key; the old public key stays in ``audit-<hex>.pub``. Return (old id, new)."""
    _prepare(keys_dir)
    old = load_signer(keys_dir).key_id if (keys_dir / PRIVATE).exists() else None
    return old, _install(keys_dir)


def load_signer(keys_dir: Path) -> Signer:
    path = keys_dir / PRIVATE
    try:
        priv = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise AuditKeyError(f"{path}: no audit key (run `hope keys init`)") from None
    except (ValueError, TypeError) as exc:
        raise AuditKeyError(f"{path}: unreadable private key ({exc})") from None
    if not isinstance(priv, Ed25519PrivateKey):
        raise AuditKeyError(f"{path}: not an Ed25519 key")
    pub = priv.public_key()
    return Signer(priv, encode_public(pub), key_id(pub))


def local_key_ids(keys_dir: Path) -> dict[str, str]:
    """Every public key lying in ``keys_dir``: {key id: file name}. Bad files are skipped."""
    found: dict[str, str] = {}
    for path in sorted(keys_dir.glob("audit*.pub")):
        try:
            found[key_id(decode_public(path.read_text()))] = path.name
        except (OSError, ValueError):
            continue
    return found


def current_key_id(keys_dir: Path) -> str | None:
    try:
        return key_id(decode_public((keys_dir / PUBLIC).read_text()))
    except (OSError, ValueError):
        return None
