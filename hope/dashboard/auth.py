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
from collections.abc import Mapping
from pathlib import Path

from hope.gateway.auth import ENV_PREFIX, TokenError, load_or_create_token, token_path

COOKIE = "hope_dashboard"
ENV_READ = ENV_PREFIX + "READ"


def load_read_token(keys_dir: Path, configured: str = "", env: Mapping[str, str] | None = None
                    ) -> tuple[str, str, list[str]]:
    """(token, where it came from, warnings): the gateway's read-scope token, read exactly as
    the gateway reads it (hope.gateway.auth: env ``HOPE_GATEWAY_TOKEN_READ``, else the 0600
    file, made if missing, a loose mode tightened with a warning)."""
    env = os.environ if env is None else env
    if env.get(ENV_READ, "").strip():
        token, where, warnings = env[ENV_READ].strip(), f"env {ENV_READ}", []
    else:
        path = Path(configured) if configured else token_path(keys_dir, "read")
        token, warnings = load_or_create_token(path)
        where = str(path)
    if len(token) < 16:
        raise TokenError(f"{where}: read-scope token shorter than 16 characters")
    return token, where, warnings


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
