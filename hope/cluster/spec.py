"""The cluster file: which host runs which programs, where the proxies are, one base config.

Format (TOML; docs/RUNBOOK.md, "Several hosts")::

    [cluster]
    config = "hope.toml"     # the base config every host's config starts from (relative to
                             # this file); per-host keys are written over it by render
    xsub_port = 5601         # every proxy binds these on its host's address
    xpub_port = 5602
    keys = "state/keys"      # every principal's keys (`hope keys init`, `hope keys enrol P`):
                             # check wants them all; render copies a host's into its state dir

    [hosts.h1]
    address = "10.20.0.1"    # the address this host's programs bind and are reached at
    state_dir = "/var/lib/hope"   # default "state" (relative to where render writes)
    programs = ["proxy"]

    [hosts.h2]
    address = "10.20.0.2"
    programs = ["proxy-2", "audit-writer", "health-monitor"]

    [programs.proxy-2]       # an instance of a supervisord.conf program under its own name
    template = "proxy"       # default: the name without a trailing "-<n>"
    [programs.scanner-1]
    config = { scanner = { shard = "1/2" } }   # keys only this program's config gets

Program names are service names: unique across the cluster (the registry, outboxes and
heartbeats are keyed by them). Each host's supervisord event listener is a principal of its
own, ``health-listener-<n>`` for the n-th host of the file (``health-listener`` when the cluster
has one host): its heartbeats and HEALTH events from two hosts would otherwise be one signer's. Hosts running a ``proxy`` program are the bus's proxies (two:
active-active); every other program connects to each of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hope.config import read_toml, refuse_unknown
from hope.principals import LISTENER

# Programs of which the cluster may run one only: a second audit writer forks the log, a second
# executor trades every BUY twice, a second decision engine decides every SIGNAL twice, a
# second retry daemon retries every dead letter twice.
SINGLE_INSTANCE = ("audit-writer", "executor", "decision-engine", "dlq-retry")
PROXY = "proxy"
_INSTANCE = re.compile(r"^(.+?)-[0-9]+$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


class ClusterError(ValueError):
    """A cluster file that must not be rendered; the message names the file and the key."""


@dataclass
class Program:
    name: str                   # the service name, the supervisord program name
    template: str               # the supervisord.conf program it runs
    config: dict[str, Any] = field(default_factory=dict)  # keys only this program gets


@dataclass
class Host:
    name: str
    address: str
    state_dir: str
    programs: list[Program]


@dataclass
class Cluster:
    path: Path
    base_config: Path | None
    xsub_port: int
    xpub_port: int
    keys: Path
    hosts: dict[str, Host]

    def host(self, name: str) -> Host:
        if name not in self.hosts:
            raise ClusterError(f"{self.path}: no host {name!r} (hosts: "
                               f"{', '.join(sorted(self.hosts))})")
        return self.hosts[name]

    def proxy_hosts(self) -> list[Host]:
        """The hosts running a proxy program, in file order."""
        return [h for h in self.hosts.values() if any(p.template == PROXY for p in h.programs)]

    def proxy_program(self, host: Host) -> Program:
        """The proxy program of a proxy host (its principal serves the host's CURVE key)."""
        return next(p for p in host.programs if p.template == PROXY)

    def listener(self, host: Host) -> str:
        """The principal host's supervisord event listener signs as: ``health-listener-<n>``
        for the n-th host in file order (an instance name, :func:`hope.authority.instance_of`),
        plain ``health-listener`` in a cluster of one host."""
        if len(self.hosts) == 1:
            return LISTENER
        return f"{LISTENER}-{list(self.hosts).index(host.name) + 1}"

    def programs(self) -> list[tuple[Host, Program]]:
        return [(h, p) for h in self.hosts.values() for p in h.programs]


def _table(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ClusterError(f"{where}: expected a table")
    return raw


def _str(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ClusterError(f"{where}.{key}: expected a non-empty string")
    return value


def _program(name: str, raw: dict[str, Any], where: str) -> Program:
    refuse_unknown(raw, ("template", "config"), where, ClusterError)
    m = _INSTANCE.match(name)
    template = raw.get("template", m.group(1) if m else name)
    if not isinstance(template, str):
        raise ClusterError(f"{where}.template: expected a string")
    return Program(name, template, _table(raw.get("config", {}), f"{where}.config"))


def load(path: str | Path) -> Cluster:
    """Read and shape-check a cluster file; :func:`hope.cluster.check.problems` judges it."""
    path = Path(path).absolute()
    raw = read_toml(path, "cluster file", ClusterError)
    refuse_unknown(raw, ("cluster", "hosts", "programs"), str(path), ClusterError,
                   sections=True)
    top = _table(raw.get("cluster", {}), f"{path}: [cluster]")
    progs = _table(raw.get("programs", {}), f"{path}: [programs]")
    hosts: dict[str, Host] = {}
    for hname, hraw in _table(raw.get("hosts", {}), f"{path}: [hosts]").items():
        where = f"{path}: [hosts.{hname}]"
        hraw = _table(hraw, where)
        refuse_unknown(hraw, ("address", "state_dir", "programs"), where, ClusterError)
        names = hraw.get("programs", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ClusterError(f"{where}.programs: expected a list of program names")
        for n in names:
            if not _NAME.match(n):
                raise ClusterError(f"{where}.programs: {n!r} is not a program name")
        programs = [_program(n, _table(progs.get(n, {}), f"{path}: [programs.{n}]"),
                             f"{path}: [programs.{n}]") for n in names]
        hosts[hname] = Host(hname, _str(hraw, "address", where),
                            _str(hraw, "state_dir", where, "state"), programs)
    if not hosts:
        raise ClusterError(f"{path}: [hosts]: no hosts")
    base = top.get("config")
    ports = {k: top.get(k, d) for k, d in (("xsub_port", 5601), ("xpub_port", 5602))}
    for k, v in ports.items():
        if not isinstance(v, int) or not 0 < v < 65536:
            raise ClusterError(f"{path}: [cluster].{k}: expected a port number")
    return Cluster(path=path, base_config=(path.parent / base) if base else None,
                   xsub_port=ports["xsub_port"], xpub_port=ports["xpub_port"],
                   keys=path.parent / top.get("keys", "state/keys"), hosts=hosts)
