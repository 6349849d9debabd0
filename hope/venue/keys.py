"""The venue's API key and signing key, read from files that only their owner may read.

A key file readable by group or others refuses the start (``KeyFileError``, exit 78), naming
the file, never its content. :class:`VenueKeys` never shows the key in its ``repr``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hope.venue.config import BinanceVenueConfig
from hope.venue.signing import Ed25519Signer, HmacSigner, Signer


class KeyFileError(ValueError):
    """A key file that is missing, unreadable, empty or readable by others (names the file)."""


def read_secret_file(path: Path, what: str) -> bytes:
    """The content of ``path`` (stripped); refuses a file with group/other permissions."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{what}: {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"{what}: {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{what}: {path} is not a regular file")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise KeyFileError(f"{what}: {path} has mode {stat.S_IMODE(st.st_mode):04o}; "
                           f"it must be 0600 (chmod 600 {path})")
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise KeyFileError(f"{what}: {path}: {exc.strerror}") from None
    if not data:
        raise KeyFileError(f"{what}: {path} is empty")
    return data


@dataclass(frozen=True)
class VenueKeys:
    api_key: str = field(repr=False)
    signer: Signer = field(repr=False)
    api_key_file: Path = Path()

    def __repr__(self) -> str:
        return f"VenueKeys(api_key_file={str(self.api_key_file)!r}, signer={self.signer.kind})"


def load_keys(cfg: BinanceVenueConfig, keys_dir: Path) -> VenueKeys:
    """The API key and the signer from the configured files (defaults under ``keys_dir``)."""
    default = Path(keys_dir) / "binance"
    api_path = Path(cfg.api_key_file) if cfg.api_key_file else default / "api_key"
    api_key = read_secret_file(api_path, "api_key_file").decode("ascii", "replace")
    if any(c.isspace() for c in api_key):
        raise KeyFileError(f"api_key_file: {api_path} holds more than one token")
    signer: Signer
    if cfg.ed25519_key_file:
        path = Path(cfg.ed25519_key_file)
        signer = Ed25519Signer.from_pem(read_secret_file(path, "ed25519_key_file"), str(path))
    else:
        path = Path(cfg.secret_file) if cfg.secret_file else default / "secret"
        signer = HmacSigner(read_secret_file(path, "secret_file"))
    return VenueKeys(api_key=api_key, signer=signer, api_key_file=api_path)


def write_key_file(path: Path, content: str) -> None:
    """Create ``path`` 0600 in a 0700 directory (rehearsals and tests write stand-in keys)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content.encode())
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
