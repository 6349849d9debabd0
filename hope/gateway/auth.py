"""The gateway's bearer tokens, one per scope, so a signal source cannot halt trading and a
dashboard cannot submit signals.

| scope | file (0600, in ``<state>/keys/``, dir 0700) | env override | allows |
|---|---|---|---|
| ``signals`` | ``gateway-signals.token`` | ``HOPE_GATEWAY_TOKEN_SIGNALS`` | ``POST /v1/signals`` |
| ``read`` | ``gateway-read.token`` | ``HOPE_GATEWAY_TOKEN_READ`` | every ``GET /v1/...`` |
| ``control`` | ``gateway-control.token`` | ``HOPE_GATEWAY_TOKEN_CONTROL`` | ``POST /v1/trading/...`` |

Files are created with random tokens by ``hope keys init`` or at the gateway's first start (a
fresh instance is never open); a file readable by group or others is tightened to 0600 with a
warning. Two scopes sharing one token are refused (the separation would be void). Comparison is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

SCOPES = ("signals", "read", "control")
ENV_PREFIX = "HOPE_GATEWAY_TOKEN_"


class TokenError(ValueError):
    """No usable token: the gateway refuses to start rather than run open."""


def token_path(keys_dir: Path, scope: str) -> Path:
    return Path(keys_dir) / f"gateway-{scope}.token"


def load_or_create_token(path: Path) -> tuple[str, list[str]]:
    """(token, warnings). Creates ``path`` (0600, its directory 0700) when it is missing."""
    warnings: list[str] = []
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        warnings.append(f"{path}: created a new gateway token (0600)")
    st = path.stat()
    mode = st.st_mode & 0o777
    if mode & 0o077 and not _shared_on_purpose(st):
        if st.st_uid != os.geteuid():
            raise TokenError(f"{path}: mode {mode:o} lets others read the token, and this user "
                             "does not own it to tighten it")
        os.chmod(path, 0o600)
        warnings.append(f"{path}: was mode {mode:o}, tightened to 600")
    token = path.read_text().strip()
    if len(token) < 16:
        raise TokenError(f"{path}: gateway token shorter than 16 characters")
    return token, warnings


def _shared_on_purpose(st: os.stat_result) -> bool:
    """Group read, nothing else, for a group that is not the owner's own: privilege separation
    shares the read-scope token with the dashboard that way (hope/privsep.py)."""
    import pwd

    try:
        own_group = pwd.getpwuid(st.st_uid).pw_gid
    except KeyError:
        return False
    return st.st_mode & 0o077 == 0o040 and st.st_gid != own_group


def load_tokens(keys_dir: Path, env: Mapping[str, str] | None = None
                ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(scope: token, scope: where it came from, warnings) for every scope."""
    env = os.environ if env is None else env
    tokens, where, warnings = {}, {}, []
    for scope in SCOPES:
        name = ENV_PREFIX + scope.upper()
        if env.get(name, "").strip():
            tokens[scope], where[scope] = env[name].strip(), f"env {name}"
            if len(tokens[scope]) < 16:
                raise TokenError(f"env {name}: gateway token shorter than 16 characters")
            continue
        path = token_path(keys_dir, scope)
        tokens[scope], more = load_or_create_token(path)
        where[scope] = str(path)
        warnings.extend(more)
    if len(set(tokens.values())) != len(tokens):
        raise TokenError("two gateway scopes share one token: give each scope its own "
                         f"({', '.join(where.values())})")
    return tokens, where, warnings


def token_id(token: str) -> str:
    """A short non-secret name of a token (for rate-limit keys and logs; never the token)."""
    return "tok:" + hashlib.sha256(token.encode()).hexdigest()[:10]


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, None when there is none."""
    if not header or not header.startswith("Bearer "):
        return None
    return header[len("Bearer "):].strip()


def scopes_of(given: str, tokens: Mapping[str, str]) -> frozenset[str]:
    """The scopes whose token ``given`` is (none: no token of ours). Every scope is compared,
    in constant time, so timing says nothing about which one nearly matched."""
    return frozenset([scope for scope, token in tokens.items()
                      if hmac.compare_digest(given.encode(), token.encode())])
