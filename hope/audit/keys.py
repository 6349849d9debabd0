"""Ed25519 audit keys: create, rotate, load, sign checkpoint notes, verify them.

Layout under ``<state>/keys/`` (the shared key layout: one directory per principal):
``audit-writer/audit.key`` (private, PEM, 0600, in the audit writer's own 0700 directory),
``public/audit.pub`` (raw public key, base64, one line) and, for every key ever used,
``public/audit-<hex>.pub`` so that records signed before a rotation stay verifiable. The key id
is ``"ed25519:" + sha256(raw public)[:32 hex]``. Every function here takes the ``keys/`` root.

An older state dir kept ``keys/audit.key`` and ``keys/audit*.pub`` at the root: the first
:func:`init_keys`, :func:`rotate_keys` or :func:`load_signer` moves them (same files, same key
id, so existing pins keep working), and :func:`public_dirs` still reads an unmigrated root.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hope.files import fsync_dir

PRIVATE = "audit.key"
PUBLIC = "audit.pub"
HOLDER = "audit-writer"   # the only principal holding the signing key
PUBLIC_DIR = "public"
_AUDIT_PUBLIC = re.compile(r"audit(-[0-9a-f]+)?\.pub")


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
    os.chmod(tmp, 0o644)  # public material: every service and a third-party verifier read it
    os.replace(tmp, path)


def private_path(keys_root: Path) -> Path:
    return Path(keys_root) / HOLDER / PRIVATE


def public_dir(keys_root: Path) -> Path:
    return Path(keys_root) / PUBLIC_DIR


def public_dirs(keys_root: Path) -> list[Path]:
    """Where audit public keys lie: ``public/``, then an unmigrated root's own."""
    return [public_dir(keys_root), Path(keys_root)]


def _mkdir(path: Path, mode: int) -> None:
    if not path.is_dir():  # modes of existing dirs stay (privilege separation sets its own)
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)


def migrate_legacy(keys_root: Path) -> list[str]:
    """Move a root-level ``audit.key`` and ``audit*.pub`` into the per-principal layout;
    returns the files moved. Nothing is overwritten: a file already in place wins."""
    keys_root = Path(keys_root)
    moved: list[str] = []
    legacy = keys_root / PRIVATE
    if legacy.exists() and not private_path(keys_root).exists():
        _mkdir(keys_root / HOLDER, 0o700)
        os.replace(legacy, private_path(keys_root))
        moved.append(PRIVATE)
    for pub in sorted(keys_root.glob("audit*.pub")):
        target = public_dir(keys_root) / pub.name
        if not target.exists():
            _mkdir(public_dir(keys_root), 0o755)
            os.replace(pub, target)
            os.chmod(target, 0o644)
            moved.append(pub.name)
    if moved:
        fsync_dir(keys_root)
    return moved


def _prepare(keys_root: Path) -> None:
    _mkdir(Path(keys_root), 0o700)
    migrate_legacy(keys_root)
    _mkdir(Path(keys_root) / HOLDER, 0o700)
    _mkdir(public_dir(keys_root), 0o755)


def _install(keys_root: Path) -> Signer:
    priv = Ed25519PrivateKey.generate()
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = priv.public_key()
    kid = key_id(pub)
    pubs = public_dir(keys_root)
    _write_public(pubs / f"audit-{kid.split(':')[1]}.pub", encode_public(pub))
    _write_private(private_path(keys_root), pem)
    _write_public(pubs / PUBLIC, encode_public(pub))
    fsync_dir(pubs)
    fsync_dir(private_path(keys_root).parent)
    return Signer(priv, encode_public(pub), kid)


def init_keys(keys_root: Path, *, force: bool = False) -> tuple[Signer, bool]:
    """Create the key pair unless one exists; return (signer, created)."""
    _prepare(keys_root)
    if private_path(keys_root).exists() and not force:
        return load_signer(keys_root), False
    return _install(keys_root), True


def rotate_keys(keys_root: Path) -> tuple[str | None, Signer]:
    """Replace the signing key; the old public key stays in ``audit-<hex>.pub``. Return (old id, new)."""
    _prepare(keys_root)
    old = load_signer(keys_root).key_id if private_path(keys_root).exists() else None
    return old, _install(keys_root)


def load_signer(keys_root: Path) -> Signer:
    if (Path(keys_root) / PRIVATE).exists():
        migrate_legacy(keys_root)
    path = private_path(keys_root)
    try:
        priv = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise AuditKeyError(f"{path}: no audit key (run `hope keys init`)") from None
    except PermissionError:
        raise AuditKeyError(f"{path}: not readable by this user (only {HOLDER} holds the "
                            "audit key)") from None
    except (ValueError, TypeError) as exc:
        raise AuditKeyError(f"{path}: unreadable private key ({exc})") from None
    if not isinstance(priv, Ed25519PrivateKey):
        raise AuditKeyError(f"{path}: not an Ed25519 key")
    pub = priv.public_key()
    return Signer(priv, encode_public(pub), key_id(pub))


def public_files(keys_root: Path) -> list[Path]:
    """Every audit public key file (``public/`` first, then an unmigrated root's): ``audit.pub``
    and ``audit-<hex>.pub`` only, since ``public/`` also holds other principals' keys
    (``audit-writer.event.pub`` is not an audit signing key)."""
    return [p for d in public_dirs(keys_root) for p in sorted(d.glob("audit*.pub"))
            if _AUDIT_PUBLIC.fullmatch(p.name)]


def local_key_ids(keys_root: Path) -> dict[str, str]:
    """Every audit public key lying in ``keys/``: {key id: file name}. Bad files are skipped."""
    found: dict[str, str] = {}
    for path in public_files(keys_root):
        try:
            found.setdefault(key_id(decode_public(path.read_text())), path.name)
        except (OSError, ValueError):
            continue
    return found


def current_key_id(keys_root: Path) -> str | None:
    for d in public_dirs(keys_root):
        try:
            return key_id(decode_public((d / PUBLIC).read_text()))
        except (OSError, ValueError):
            continue
    return None
