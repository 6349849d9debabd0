"""One config loader: ``hope.toml`` into typed sections, refusing bad input by file and key.

Each concern declares its section as a dataclass of defaults and registers it with
:func:`register_section` (the module is listed in ``SECTION_MODULES`` so the loader imports it).
Resolution: ``--config`` > ``HOPE_CONFIG`` > ``./hope.toml`` (if present) > built-in defaults;
the variables in :data:`ENV_KEYS` then override one key each.
State dir: ``--state-dir`` > ``HOPE_STATE_DIR`` > ``[hope] state_dir`` > ``./state``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import socket
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hope.paths import StatePaths

_SECTIONS: dict[str, type] = {}
# One key each, over the file: the fixed TCP ports are what two instances on one machine (or a
# test of ./scripts/run beside a running one) would collide on; the state dir has HOPE_STATE_DIR.
ENV_KEYS = {"HOPE_GATEWAY_PORT": ("gateway", "port"), "HOPE_HEALTH_PORT": ("health", "port"),
            "HOPE_DASHBOARD_PORT": ("dashboard", "port")}
# Modules that declare config sections; imported lazily by load() so the loader knows them all.
SECTION_MODULES = [
    "hope.config", "hope.market.config", "hope.decision.config", "hope.execution.config",
    "hope.audit.config", "hope.dlq.config", "hope.health.config", "hope.gateway.config",
    "hope.decision.shadow_config", "hope.middleware.config", "hope.witness.config",
    "hope.dashboard.config",
]


class ConfigError(ValueError):
    """A config that must not start a service. The message names the file and the key."""


def register_section(name: str):
    def wrap(cls: type) -> type:
        _SECTIONS[name] = cls
        return cls
    return wrap


@register_section("hope")
@dataclass
class HopeSection:
    state_dir: str = ""          # empty: ./state at the current directory
    log_level: str = "info"
    host: str = ""               # this host's name in heartbeats and the registry ("": hostname)
    # One OS user per program (hope-<program>, group hope), each reading only its own keys;
    # needs supervisord running as root (hope/privsep.py, `hope privsep setup`).
    privilege_separation: bool = False


@register_section("bus")
@dataclass
class BusConfig:
    transport: str = "ipc"       # "ipc" (sockets under <state>/run/) or "tcp" (loopback ports)
    tcp_host: str = "127.0.0.1"  # never 0.0.0.0 unless you mean it
    xsub_port: int = 5601
    xpub_port: int = 5602
    hwm: int = 200_000           # high-water mark; drops past it are recovered through REPLAY
    max_message_bytes: int = 1 << 20
    handshake_timeout_s: float = 15.0
    replay_timeout_s: float = 1.0
    heartbeat_interval_s: float = 1.0
    handler_timeout_s: float = 10.0
    outbox_segment_events: int = 5000
    quarantine_max_bytes: int = 16 << 20
    max_future_skew_s: float = 300.0   # envelope timestamps further ahead are rejected
    max_age_s: float = 7 * 86400.0     # ... and older than this (legacy replays bypass the bus)
    # REPLAY answers (hope/bus/recovery_protocol.py): per requester epoch, at most this many requests a
    # second after a burst; at most replay_max_bytes of records per answer (the requester asks
    # again for the rest); reply_to only for an epoch heard (heartbeat or HELLO) this recently
    replay_rate_per_s: float = 20.0
    replay_burst: int = 100
    replay_max_bytes: int = 4 << 20
    replay_alive_s: float = 30.0
    # Several proxies (tcp, active-active): clients connect to every address here on
    # xsub_port/xpub_port, a proxy binds tcp_host; empty: the one proxy at tcp_host.
    proxy_hosts: list[str] = field(default_factory=list)
    # ... and each one's principal (its CURVE server key keys/public/<name>.curve.key), in the
    # same order; empty: "proxy" for all
    proxy_names: list[str] = field(default_factory=list)
    # With several proxies every event arrives once per proxy; a hole is asked for only after
    # this long, so the slower proxy's copy fills it instead of a REPLAY.
    duplicate_grace_s: float = 0.25
    # tcp only (hope/bus/sockets.py configure): ZMTP heartbeats drop a silent peer after
    # zmtp_heartbeat_timeout_s; kernel keepalive as a second line; reconnects back off to max.
    zmtp_heartbeat_ivl_s: float = 1.0
    zmtp_heartbeat_timeout_s: float = 3.0
    zmtp_heartbeat_ttl_s: float = 3.0
    tcp_keepalive_idle_s: int = 10
    tcp_keepalive_intvl_s: int = 2
    tcp_keepalive_cnt: int = 3
    reconnect_ivl_s: float = 0.1
    reconnect_ivl_max_s: float = 1.0
    # Event authentication (hope/eventauth, docs/SECURITY.md). ``authenticate = false`` exists
    # for the bench's unauthenticated baseline only: /health shows it, tcp refuses it.
    authenticate: bool = True
    auth_window_s: float = 30.0  # ephemeral events (HEARTBEAT, WATERMARK, REPLAY) older are refused

    def validate(self) -> None:
        if not self.authenticate and self.transport != "ipc":
            raise ValueError(f"authenticate: false is refused with transport = "
                             f"{self.transport!r} (only ipc, for the bench baseline)")
        if self.auth_window_s <= 0:
            raise ValueError("auth_window_s: must be > 0")
        if self.transport not in ("ipc", "tcp"):
            raise ValueError(f"transport: {self.transport!r} is not \"ipc\" or \"tcp\"")
        if self.proxy_hosts and self.transport != "tcp":
            raise ValueError("proxy_hosts: several proxies need transport = \"tcp\"")
        if self.proxy_names and len(self.proxy_names) != len(self.proxy_hosts):
            raise ValueError(f"proxy_names: {len(self.proxy_names)} names for "
                             f"{len(self.proxy_hosts)} proxy_hosts")
        if len(set(self.proxy_hosts)) != len(self.proxy_hosts):
            raise ValueError(f"proxy_hosts: listed twice in {self.proxy_hosts}")
        for name in ("zmtp_heartbeat_ivl_s", "zmtp_heartbeat_timeout_s", "zmtp_heartbeat_ttl_s",
                     "reconnect_ivl_s", "reconnect_ivl_max_s", "tcp_keepalive_idle_s",
                     "tcp_keepalive_intvl_s", "tcp_keepalive_cnt"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.reconnect_ivl_max_s < self.reconnect_ivl_s:
            raise ValueError("reconnect_ivl_max_s: must be >= reconnect_ivl_s")
        if self.duplicate_grace_s < 0:
            raise ValueError("duplicate_grace_s: must be >= 0")
        for name in ("replay_rate_per_s", "replay_alive_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.replay_burst < 1:
            raise ValueError("replay_burst: must be >= 1")
        if self.max_message_bytes < 1024:
            raise ValueError("max_message_bytes: must be >= 1024")
        if self.replay_max_bytes < self.max_message_bytes:
            raise ValueError("replay_max_bytes: must be >= max_message_bytes")


@dataclass
class Config:
    path: Path | None
    state: StatePaths
    sections: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["sections"][name]
        except KeyError:
            raise AttributeError(name) from None

    def hash(self, *names: str) -> str:
        """A short stable hash of the named sections (all when none): goes into DECISIONs."""
        chosen = {n: dataclasses.asdict(self.sections[n]) for n in (names or sorted(self.sections))}
        text = json.dumps(chosen, sort_keys=True, separators=(",", ":"))
        return "cfg:" + hashlib.sha256(text.encode()).hexdigest()[:12]

    def shared_hash(self) -> str:
        """The hash every host of a cluster should agree on: all sections without the keys
        that are meant to differ per host (:data:`HOST_LOCAL_KEYS`). In every heartbeat, so
        computed once (a process reads its config at start and never changes it; the walk
        over every section is ~0.5-1.5 ms, a stall of the event loop once a second)."""
        memo = self.__dict__.get("_shared_hash")
        if memo is None:
            memo = self.__dict__["_shared_hash"] = self._compute_shared_hash()
        return memo

    def _compute_shared_hash(self) -> str:
        chosen = {n: dataclasses.asdict(s) for n, s in sorted(self.sections.items())}
        for section, key in HOST_LOCAL_KEYS:
            chosen.get(section, {}).pop(key, None)
        text = json.dumps(chosen, sort_keys=True, separators=(",", ":"), default=str)
        return "cfg:" + hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def host(self) -> str:
        """This host's name in heartbeats: ``[hope] host`` or the machine's hostname."""
        return self.sections["hope"].host or socket.gethostname()


# Keys a cluster's hosts set differently on purpose (hope cluster render writes them).
HOST_LOCAL_KEYS = (("hope", "host"), ("hope", "state_dir"), ("bus", "tcp_host"),
                   ("scanner", "shard"), ("health", "port"), ("gateway", "port"),
                   ("dashboard", "port"))


def _import_sections() -> None:
    for mod in SECTION_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if not mod.startswith(exc.name or "\0"):  # a real import error inside must surface
                raise


# Keys whose values are secrets: a config error names the key, never the value. ``*_file`` and
# ``*_url`` keys hold where a secret is, which is fine to show.
SECRET_WORDS = ("token", "secret", "password", "passphrase", "api_key", "private_key",
                "credential", "authorization")


def is_secret_key(where: str) -> bool:
    """True when the innermost key of ``where`` (``[telegram].token``, ``x.api_key[0]``) names a
    secret."""
    key = where.rsplit(".", 1)[-1].split("[", 1)[0].lower()
    if key.endswith(("_file", "_path", "_dir", "_url", "_s")):
        return False
    return any(word in key for word in SECRET_WORDS)


def _shown(value: Any, where: str) -> str:
    """The value as an error message may show it: never a secret key's."""
    return "(value not shown: secret key)" if is_secret_key(where) else repr(value)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return _build(hint, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {_shown(value, where)} does not fit {hint}")
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is type(None) and value is None:
        return None
    if isinstance(hint, type) and isinstance(value, hint) and not (
            isinstance(value, bool) and hint is not bool):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where}: expected {name}, got {type(value).__name__} "
                      f"{_shown(value, where)}")


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    refuse_unknown(table, {f.name for f in dataclasses.fields(cls)}, where)
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in table.items()}
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check = getattr(obj, "validate", None)
    if check:
        try:
            check()
        except ValueError as exc:
            key = str(exc).split(":", 1)[0]
            if is_secret_key(key):  # validate() messages may quote the value
                raise ConfigError(f"{where}.{key}: invalid (value not shown: secret key)") \
                    from None
            raise ConfigError(f"{where}.{exc}") from None
    return obj


def _env_keys() -> dict[str, dict[str, Any]]:
    """The :data:`ENV_KEYS` set in the environment, as override tables (TOML values)."""
    tables: dict[str, dict[str, Any]] = {}
    for var, (section, key) in ENV_KEYS.items():
        text = os.environ.get(var, "").strip()
        if not text:
            continue
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"${var}: not a TOML value: {text!r} (sets [{section}].{key})") from None
        tables.setdefault(section, {})[key] = value
    return tables


def refuse_unknown(keys: Iterable[str], known: Iterable[str], where: str,
                   error: type[Exception] = ConfigError, *, sections: bool = False) -> None:
    """Raise ``error`` naming the first of ``keys`` (sorted) that is not ``known``, and what is:
    ``<where>.<key>: unknown key (known: ...)``, or for ``sections`` ``<where>: [<name>]:
    unknown section (known: ...)``. A typo must not pass as a default silently."""
    unknown = sorted(set(keys) - set(known))
    if not unknown:
        return
    listed = ", ".join(sorted(known))
    if sections:
        raise error(f"{where}: [{unknown[0]}]: unknown section (known: {listed})")
    raise error(f"{where}.{unknown[0]}: unknown key (known: {listed})")


def read_toml(path: str | os.PathLike[str], what: str,
              error: type[Exception] = ConfigError) -> dict[str, Any]:
    """The TOML file at ``path`` (``what`` it is, for the message), or ``error`` naming the file:
    missing, or not valid TOML (the parser's line and column)."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))  # TOML is UTF-8
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None


def load(config_path: str | os.PathLike[str] | None = None,
         state_dir: str | os.PathLike[str] | None = None,
         overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Load, validate and return the config; raise ConfigError naming file and key."""
    _import_sections()
    path = config_path or os.environ.get("HOPE_CONFIG")
    if not path and Path("hope.toml").is_file():
        path = "hope.toml"
    raw: dict[str, Any] = {}
    if path:
        path = Path(path).absolute()
        raw = read_toml(path, "config file")
    for layer in (_env_keys(), overrides or {}):
        for name, table in layer.items():
            raw.setdefault(name, {}).update(table)
    where = str(path) if path else "<defaults>"
    sections: dict[str, Any] = {}
    refuse_unknown(raw, _SECTIONS, where, sections=True)
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {name}: expected a table")
    for name, cls in _SECTIONS.items():
        sections[name] = _build(cls, raw.get(name, {}), f"{where}: [{name}]")
    root = (state_dir or os.environ.get("HOPE_STATE_DIR") or sections["hope"].state_dir
            or "state")
    return Config(path=Path(path) if path else None, state=StatePaths.at(root), sections=sections)
