"""Event-key files: one X25519 key pair per principal, in the shared key layout.

``<state>/keys/<principal>/event.key`` (raw 32-byte secret, 0600; the directory 0700) and
``<state>/keys/public/<principal>.event.pub`` (raw 32-byte public key, 0644; the directory 0755).
:func:`create_principal` is idempotent and never replaces an existing key; ``hope keys init``
runs it for every principal (:func:`hope.principals.principals`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hope import principals
from hope.files import atomic_write_bytes, remove_existing

SECRET_NAME = "event.key"
PUBLIC_SUFFIX = ".event.pub"
# Tests, the bench and chaos runs start publishers under names of their own; with this set in
# the environment a bus creates its principal's key pair when it has none (never in production:
# there ``hope keys init`` creates every principal and a missing key refuses to start).
ENROL_ENV = "HOPE_ENROL_MISSING_PRINCIPALS"


class EventKeyError(Exception):
    """A key file missing, unreadable or malformed; the message names the file."""


def check_name(name: str) -> str:
    """``name`` if it can be a key directory (:func:`hope.principals.check_name`)."""
    try:
        return principals.check_name(name) if isinstance(name, str) else \
            principals.check_name(repr(name))
    except principals.PrincipalError as exc:
        raise EventKeyError(f"bad principal name: {exc}") from None


def public_dir(keys_dir: Path) -> Path:
    return keys_dir / "public"


def secret_path(keys_dir: Path, name: str) -> Path:
    return keys_dir / check_name(name) / SECRET_NAME


def public_path(keys_dir: Path, name: str) -> Path:
    return public_dir(keys_dir) / f"{check_name(name)}{PUBLIC_SUFFIX}"


def _raw_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def create_principal(keys_dir: Path, name: str, *, force: bool = False) -> bool:
    """Create ``name``'s key pair unless it exists (then only its public file if that is
    missing); True when something was created. ``force`` replaces an existing pair (a
    rotation: every peer re-derives its pair key when it sees the new public file).
    Directories 0700 (``public/`` 0755)."""
    secret, public = secret_path(keys_dir, name), public_path(keys_dir, name)
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret.parent.mkdir(mode=0o700, exist_ok=True)
    public.parent.mkdir(mode=0o755, exist_ok=True)
    if secret.exists() and not force:
        if public.exists():
            return False
        atomic_write_bytes(public, _raw_public(load_secret(keys_dir, name)), 0o644)
        return True
    key = X25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    atomic_write_bytes(secret, key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()), 0o600)
    atomic_write_bytes(public, _raw_public(key), 0o644)
    return True


def revoke_principal(keys_dir: Path, name: str) -> list[Path]:
    """Withdraw ``name``'s event key: without its public file every consumer refuses its
    events (``auth_unknown_principal``) from its next key scan. Returns the files removed."""
    return remove_existing(public_path(keys_dir, name), secret_path(keys_dir, name))


def load_secret(keys_dir: Path, name: str) -> X25519PrivateKey:
    path = secret_path(keys_dir, name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EventKeyError(f"{path}: no event key for principal {name!r} "
                        "(run `hope keys init`)") from None
    except OSError as exc:
        raise EventKeyError(f"{path}: unreadable ({exc.strerror})") from None
    if len(data) != 32:
        raise EventKeyError(f"{path}: malformed event key ({len(data)} bytes, want 32)")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise EventKeyError(f"{path}: mode {mode:o} lets others read it (want 0600)")
    return X25519PrivateKey.from_private_bytes(data)


def load_public(keys_dir: Path, name: str) -> X25519PublicKey | None:
    """``name``'s public key, or None when it has none (an unknown principal)."""
    try:
        data = public_path(keys_dir, name).read_bytes()
    except (FileNotFoundError, EventKeyError):
        return None
    if len(data) != 32:
        return None
    return X25519PublicKey.from_public_bytes(data)


def public_names(keys_dir: Path) -> list[str]:
    """Every principal with a public key, sorted."""
    try:
        entries = os.listdir(public_dir(keys_dir))
    except FileNotFoundError:
        return []
    names = (e[:-len(PUBLIC_SUFFIX)] for e in entries if e.endswith(PUBLIC_SUFFIX))
    return sorted(n for n in names if is_name(n))


def is_name(name: str) -> bool:
    try:
        check_name(name)
    except EventKeyError:
        return False
    return True


def enrol_allowed() -> bool:
    return os.environ.get(ENROL_ENV) == "1"


def init_principals(keys_dir: Path, names: list[str] | tuple[str, ...]) -> list[tuple[Path, bool]]:
    """``hope keys init``: every principal's key pair (created only where missing); (secret
    file, created?) per principal."""
    return [(secret_path(keys_dir, n), create_principal(keys_dir, n)) for n in names]
