"""Who holds keys: one principal per supervisord program, plus ``operator`` (the CLI).

A principal's secrets live in ``<state>/keys/<principal>/`` (0700, files 0600) and only there;
what others may read of it lies in ``<state>/keys/public/``. Under privilege separation each
principal runs as its own OS user, :func:`os_user`.
"""

from __future__ import annotations

import functools
import os
import pwd
import re

OPERATOR = "operator"
# The supervisord event listener publishes on the bus under this name (hope/health/eventlistener.py).
LISTENER = "health-listener"
USER_PREFIX = "hope-"
GROUP = "hope"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class PrincipalError(ValueError):
    """A principal name that cannot be a key directory or an OS user."""


def check_name(name: str) -> str:
    if not _NAME.match(name) or name == "public":
        raise PrincipalError(f"principal {name!r}: expected lower-case letters, digits and '-' "
                             "(at most 31, starting with a letter; 'public' is reserved)")
    return name


# The programs of CONVENTIONS, for an installed package without a checkout's supervisord.conf.
KNOWN_PROGRAMS = ("proxy", "witness", "audit-writer", "health-monitor", "dlq-retry", "executor",
                  "decision-engine", "decision-engine-shadow", "gateway", "dashboard", "scanner")


def programs() -> list[str]:
    """The supervisord programs of the checkout's template, in its order."""
    from hope.supervisor_conf import program_names

    try:
        return program_names()
    except FileNotFoundError:
        return list(KNOWN_PROGRAMS)


def principals() -> list[str]:
    """Every principal ``hope keys init`` creates keys for: the programs, the event listener,
    the operator."""
    return [*programs(), LISTENER, OPERATOR]


def os_user(principal: str) -> str:
    """The OS user a principal runs as under privilege separation (``hope-executor``)."""
    return USER_PREFIX + check_name(principal)


@functools.cache
def current_user() -> str:
    """The OS user this process runs as (its effective uid's name, the uid when unnamed)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


_keys_in_use: dict[str, str] = {}  # kind (curve_key, ...) -> key id this process uses


def note_key(kind: str, key_id: str) -> None:
    """Record a key this process authenticates with; heartbeats report it (``hope status``)."""
    _keys_in_use[kind] = key_id


def identity() -> dict[str, str]:
    """What a heartbeat says about who this process is: its OS user and the key ids it uses."""
    return {"user": current_user(), **_keys_in_use}
