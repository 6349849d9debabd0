"""The gateway's bearer token: from env ``HOPE_GATEWAY_TOKEN``, else a 0600 file in the state dir.

The file is created with a random token on first start (so a fresh instance is never open), and a
file readable by group or others is tightened to 0600 with a warning. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

ENV_TOKEN = "HOPE_GATEWAY_TOKEN"


class TokenError(ValueError):
    """No usable token: the gateway refuses to start rather than run open."""


def token_path(state_keys: Path, token_file: str) -> Path:
    return Path(token_file) if token_file else Path(state_keys) / "gateway.token"


def load_or_create_token(path: Path, env: dict[str, str] | None = None
                         ) -> tuple[str, str, list[str]]:
    """(token, where it came from, warnings). Creates ``path`` (0600) when it is missing."""
    env = os.environ if env is None else env
    warnings: list[str] = []
    if env.get(ENV_TOKEN, "").strip():
        return env[ENV_TOKEN].strip(), f"env {ENV_TOKEN}", warnings
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        warnings.append(f"{path}: created a new gateway token (0600)")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        os.chmod(path, 0o600)
        warnings.append(f"{path}: was mode {mode:o}, tightened to 600")
    token = path.read_text().strip()
    if len(token) < 16:
        raise TokenError(f"{path}: gateway token shorter than 16 characters")
    return token, str(path), warnings


def token_id(token: str) -> str:
    """A short non-secret name of a token (for rate-limit keys and logs; never the token)."""
    return "tok:" + hashlib.sha256(token.encode()).hexdigest()[:10]


def check_bearer(header: str | None, token: str) -> str | None:
    """None when the Authorization header carries ``token``; else 'missing' or 'invalid'."""
    if not header or not header.startswith("Bearer "):
        return "missing"
    given = header[len("Bearer "):].strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        return "invalid"
    return None
