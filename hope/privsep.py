"""Privilege separation (``[hope] privilege_separation = true``, opt-in): one OS user per
program, each reading only its own keys.

:func:`setup` (``hope privsep setup``, run as root by ``./scripts/setup`` when enabled) creates
the group ``hope`` and one system user ``hope-<program>`` per principal (own primary group, member
of ``hope``; no login, no home), then sets the state dir's ownership:

==============================  =============================  =====
path                            owner:group                    mode
==============================  =============================  =====
``<state>/``                    root:hope                      0750
``keys/``                       root:hope                      0710 (traverse, no listing)
``keys/<p>/`` and its files     hope-<p>:hope-<p>              0700 / 0600
``keys/public/`` and its files  root:root                      0755 / 0644
``keys/gateway-*.token``        hope-gateway (read: +dashboard) 0600 (0640)
``run/``, ``quarantine/``,      root:hope                      3770 (setgid, sticky: each
``logs/``                                                      removes only its own files)
``outbox/<p>/``                 hope-<p>:hope                  2750
``events/``, ``checkpoint-copy/``  hope-audit-writer:hope      2750
``positions/``, ``exchange/``   hope-executor:hope             2750
``dlq/``, ``tape/``, ``witness/``  hope-dlq-retry / -scanner / -witness  2750
``trading_state``               root:hope                      0660 (rewritten in place)
the pin file (hope.local.toml)  root:root                      0644
==============================  =============================  =====

Programs run with umask 027, so what one writes (the audit log, positions) its peers of group
``hope`` read; nothing is world-readable; keys are never group-readable. supervisord renders
``user=hope-<program>`` for each program (hope/supervisor_conf.py), which it can only do when it
runs as root: a service that finds itself under another user than its own refuses to start
(exit 78). The bus's ipc sockets are 0660, group ``hope``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from hope.config import Config
from hope.paths import StatePaths
from hope.principals import GROUP, LISTENER, current_user, os_user, principals
from hope.supervisor_conf import LISTENER_SECTION

UMASK = 0o027
SHARED_DIR = 0o3770  # setgid (new files: group hope) + sticky (only the owner removes a file)
_WRITERS = {"events": "audit-writer", "checkpoint-copy": "audit-writer",
            "positions": "executor", "exchange": "executor", "dlq": "dlq-retry",
            "tape": "scanner", "witness": "witness"}


class PrivsepError(RuntimeError):
    """Privilege separation cannot be set up or is not in force; the message says why."""


def run_as() -> dict[str, str]:
    """The users supervisord starts its sections as (``render(run_as=...)``): each program its
    own, the event listener its bus principal's; supervisord's socket the health monitor's."""
    users = {p: os_user(p) for p in principals() if p != LISTENER}
    return {**users, LISTENER_SECTION: os_user(LISTENER), "socket": os_user("health-monitor")}


def enabled(config: Config) -> bool:
    return bool(config.hope.privilege_separation)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PrivsepError(
            f"{what} needs root: [hope] privilege_separation = true starts each program as its "
            f"own user (supervisord `user=`), which only a supervisord running as root can do "
            f"(running as {current_user()})")


def _run(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise PrivsepError(f"{' '.join(argv)}: {out.stderr.strip() or out.returncode}")


def _exists_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _exists_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def ensure_accounts(names: Iterable[str]) -> list[str]:
    """Create the group and the users that do not exist yet (idempotent); returns those made."""
    made = []
    if not _exists_group(GROUP):
        _run(["groupadd", "--system", GROUP])
        made.append(f"group {GROUP}")
    nologin = shutil.which("nologin") or "/usr/sbin/nologin"
    for principal in names:
        user = os_user(principal)
        if not _exists_user(user):
            _run(["useradd", "--system", "--user-group", "--groups", GROUP, "--no-create-home",
                  "--home-dir", "/nonexistent", "--shell", nologin, user])
            made.append(user)
    return made


def remove_accounts(names: Iterable[str]) -> None:
    """Delete the users and the group (tests clean up after themselves)."""
    for principal in names:
        if _exists_user(os_user(principal)):
            _run(["userdel", os_user(principal)])
    if _exists_group(GROUP):
        _run(["groupdel", GROUP])


def _ids(user: str, group: str | None = None) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, grp.getgrnam(group).gr_gid if group else entry.pw_gid


def _own(path: Path, uid: int, gid: int, mode: int, *, tree: bool = False) -> None:
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    if tree and path.is_dir():
        for sub in path.rglob("*"):
            os.chown(sub, uid, gid, follow_symlinks=False)
            if not sub.is_symlink():
                os.chmod(sub, mode if sub.is_dir() else 0o640)


def apply_permissions(state: StatePaths, pin_file: Path | None, names: list[str]) -> None:
    """Set the ownership table of the module docstring on ``state`` (idempotent)."""
    hope_gid = grp.getgrnam(GROUP).gr_gid
    state.ensure()
    _own(state.root, 0, hope_gid, 0o750)
    for d in (state.run, state.quarantine, state.logs):
        _own(d, 0, hope_gid, SHARED_DIR)
    _own(state.keys, 0, hope_gid, 0o710)
    state.public_keys.mkdir(exist_ok=True)
    _own(state.public_keys, 0, 0, 0o755)
    for f in state.public_keys.iterdir():
        _own(f, 0, 0, 0o644)
    _own(state.outbox, 0, hope_gid, 0o750)
    for principal in names:
        uid, gid = _ids(os_user(principal))
        keys = state.principal_keys(principal)
        keys.mkdir(exist_ok=True)
        _own(keys, uid, gid, 0o700)
        for f in keys.iterdir():
            _own(f, uid, gid, 0o600)
        box = state.outbox / principal
        box.mkdir(exist_ok=True)
        _own(box, uid, hope_gid, 0o2750, tree=True)
    for name, principal in _WRITERS.items():
        d = state.root / name
        d.mkdir(exist_ok=True)
        _own(d, _ids(os_user(principal))[0], hope_gid, 0o2750, tree=True)
    _tokens(state)
    _trading_state(state, hope_gid)
    if pin_file is not None and pin_file.exists():
        _own(pin_file, 0, 0, 0o644)


def _tokens(state: StatePaths) -> None:
    """The gateway's tokens are the gateway's; the dashboard also checks the read scope."""
    gateway = _ids(os_user("gateway"))
    for path in state.keys.glob("gateway-*.token"):
        if path.name == "gateway-read.token":
            _own(path, gateway[0], _ids(os_user("dashboard"))[1], 0o640)
        else:
            _own(path, gateway[0], gateway[1], 0o600)


def _trading_state(state: StatePaths, hope_gid: int) -> None:
    """The state root is not writable by services: the trading-state file exists (HALTED on a
    fresh instance, until an operator resumes) and is rewritten in place."""
    path = state.trading_state
    if not path.exists():
        from hope.trading.state import HALTED, TradingStateStore
        TradingStateStore(path).save(HALTED, changed_by="privsep setup")
    _own(path, 0, hope_gid, 0o660)


def as_user(principal: str) -> dict[str, object]:
    """subprocess options that run a child as the principal's user, with its groups (as
    supervisord's ``user=`` does: initgroups)."""
    user = os_user(principal)
    entry = pwd.getpwnam(user)
    groups = [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups}


def check_interpreter(python: str, principal: str = "proxy") -> None:
    """The programs' Python must run, and import hope, as a service user."""
    out = subprocess.run([python, "-c", "import hope, zmq"], **as_user(principal),
                         capture_output=True, text=True, timeout=60, cwd="/")
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        raise PrivsepError(
            f"{os_user(principal)} cannot run {python} ({why}): the interpreter, its packages "
            "and the checkout must be readable by the service users (a Python in a private "
            "home such as /root is not; install one under /usr or /opt)")


def setup(config: Config, pin_file: Path | None, python: str | None = None) -> list[str]:
    """Accounts and permissions for this state dir, then a check that the service users can
    run ``python`` (the programs' interpreter); returns the accounts created."""
    import sys

    require_root("hope privsep setup")
    names = principals()
    made = ensure_accounts(names)
    apply_permissions(config.state, pin_file, names)
    check_interpreter(python or sys.executable)
    return made


def check_service(config: Config, name: str) -> None:
    """At a service's start: under privilege separation it must run as its own user."""
    if not enabled(config):
        return
    want = os_user(name)
    try:
        uid = pwd.getpwnam(want).pw_uid
    except KeyError:
        raise PrivsepError(f"[hope] privilege_separation = true but user {want} does not exist "
                           "(run `hope privsep setup` as root)") from None
    if os.geteuid() != uid:
        raise PrivsepError(
            f"[hope] privilege_separation = true but {name} runs as {current_user()}, not "
            f"{want}: supervisord must run as root, from a config rendered with "
            "privilege separation (`user=` per program)")


def mode(config: Config) -> dict[str, object]:
    """What /health and `hope status` say about who the instance runs as."""
    if enabled(config):
        return {"privilege_separation": True, "mode": "one user per program",
                "group": GROUP}
    return {"privilege_separation": False, "mode": "single user", "user": current_user(),
            "note": "every program runs as this one user and can read every key "
                    "([hope] privilege_separation = true separates them)"}
