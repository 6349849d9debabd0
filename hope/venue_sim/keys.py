"""Generated test credentials for the stand-in: an API key with an HMAC secret or an Ed25519
key pair in ``<state>/keys/binance/`` (0700; files 0600), the layout HOPE's venue client reads.
Never a real venue's keys: ``hope venue-sim --test-keys STATE`` and tests make them."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from hope.files import atomic_write_bytes


@dataclass(frozen=True)
class VenueTestKeys:
    """Generated test credentials for the stand-in (never a real venue's)."""

    directory: Path
    api_key: str
    kind: str                       # "hmac" | "ed25519"
    secret: str | None = None       # HMAC
    private_key_path: Path | None = None   # Ed25519, PEM (PKCS#8, unencrypted)


def generate_test_keys(state_dir: str | Path, kind: str = "hmac",
                       subdir: str = "binance") -> VenueTestKeys:
    """A fresh API key and an HMAC secret or an Ed25519 key pair in
    ``<state_dir>/keys/<subdir>/`` (directory 0700, files 0600): ``api_key`` plus ``secret``,
    or ``ed25519_key`` (private, PEM) and ``ed25519_key.pub`` (public, PEM; what the stand-in
    is given with ``--keys``). Replaces what the directory held."""
    if kind not in ("hmac", "ed25519"):
        raise ValueError(f"kind: 'hmac' or 'ed25519', got {kind!r}")
    d = Path(state_dir) / "keys" / subdir
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    for name in ("secret", "ed25519_key", "ed25519_key.pub"):
        (d / name).unlink(missing_ok=True)
    api_key = secrets.token_urlsafe(48).replace("-", "A").replace("_", "z")[:64]
    atomic_write_bytes(d / "api_key", (api_key + "\n").encode())
    if kind == "hmac":
        secret = secrets.token_urlsafe(48).replace("-", "A").replace("_", "z")[:64]
        atomic_write_bytes(d / "secret", (secret + "\n").encode())
        return VenueTestKeys(d, api_key, kind, secret=secret)
    private = Ed25519PrivateKey.generate()
    atomic_write_bytes(d / "ed25519_key", private.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    atomic_write_bytes(d / "ed25519_key.pub", private.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return VenueTestKeys(d, api_key, kind, private_key_path=d / "ed25519_key")


def ensure_test_keys(state_dir: str | Path, kind: str = "hmac") -> Path:
    """``<state_dir>/keys/binance`` holding a test key (generated when it holds none yet);
    the directory, for ``hope venue-sim --keys`` and the client's config alike."""
    d = Path(state_dir) / "keys" / "binance"
    if (d / "api_key").exists() and ((d / "secret").exists()
                                     or (d / "ed25519_key.pub").exists()):
        return d
    return generate_test_keys(state_dir, kind).directory
