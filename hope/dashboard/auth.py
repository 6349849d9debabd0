"""Who may look: the gateway's read-scope token, once per browser.

An operator opens ``/?token=<read token>``; the dashboard answers with an HttpOnly,
SameSite=Strict session cookie (an HMAC of the token, never the token itself) and a redirect
to ``/`` so the token leaves the address bar and the history. Scripts send
``Authorization: Bearer <read token>`` instead. Control requests need more: the operator's
control-scope token, which the dashboard passes to the gateway and never stores.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

COOKIE = "hope_dashboard"
ENV_READ = "HOPE_GATEWAY_TOKEN_READ"


class TokenError(ValueError):
    """No usable read token: the dashboard refuses to start rather than run open."""


def read_token_path(keys_dir: Path, configured: str = "") -> Path:
    return Path(configured) if configured else Path(keys_dir) / "gateway-read.token"


def load_read_token(path: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(token, where it came from). The file is made by ``hope keys init`` or the gateway's
    first start; if this starts first it makes it (random, 0600, the gateway then reads the
    same). A loose mode or a short token is refused, naming the file."""
    env = dict(os.environ) if env is None else env
    if env.get(ENV_READ, "").strip():
        token, where = env[ENV_READ].strip(), f"env {ENV_READ}"
    else:
        path = Path(path)
        _create(path)
        try:
            mode = path.stat().st_mode & 0o777
            token, where = path.read_text().strip(), str(path)
        except OSError as exc:
            raise TokenError(f"{path}: read-scope token unreadable ({exc.strerror})") from None
        if mode & 0o077:
            raise TokenError(f"{path}: mode {mode:o} lets others read it; chmod 600 {path}")
    if len(token) < 16:
        raise TokenError(f"{where}: read-scope token shorter than 16 characters")
    return token, where


def _create(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # the gateway made it at the same moment
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")


def session_value(token: str) -> str:
    """The cookie a browser keeps: derived from the token, useless anywhere else."""
    return hmac.new(token.encode(), b"hope-dashboard-session", hashlib.sha256).hexdigest()


def allowed(token: str, *, bearer: str | None, cookie: str | None, query: str | None) -> bool:
    """True when any of the three carries the read token (constant-time comparisons)."""
    ok = False
    for given in (bearer, query):
        if given:
            ok |= hmac.compare_digest(given.encode(), token.encode())
    if cookie:
        ok |= hmac.compare_digest(cookie.encode(), session_value(token).encode())
    return ok


def bearer_of(header: str | None) -> str | None:
    if not header or not header.startswith("Bearer "):
        return None
    return header[len("Bearer "):].strip() or None
