"""``hope cluster check``: every reason a cluster file must not be deployed, each naming the
host, the program or the key. Pure: the template's programs and the keys directory are
inputs."""

from __future__ import annotations

import ipaddress
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from hope.cluster.spec import PROXY, SINGLE_INSTANCE, Cluster
from hope.principals import LISTENER, OPERATOR

WILDCARDS = ("0.0.0.0", "::", "*", "")


def problems(cluster: Cluster, template_programs: Iterable[str]) -> list[str]:
    """Everything wrong with ``cluster`` (empty: deployable)."""
    known = set(template_programs)
    out: list[str] = []
    out += _names(cluster, known)
    out += _addresses(cluster)
    out += _endpoints(cluster)
    out += _audit_reader(cluster)
    out += _keys(cluster)
    return out


def _audit_reader(cluster: Cluster) -> list[str]:
    """A decision engine away from the audit log rebuilds through the audit host's
    audit-reader: without one it would start HALTED."""
    log_hosts = [h for h in cluster.hosts.values()
                 if any(p.template == "audit-writer" for p in h.programs)]
    away = [f"{h.name}:{p.name}" for h, p in cluster.programs()
            if p.template == "decision-engine" and h not in log_hosts]
    if not away or any(p.template == "audit-reader" for h in log_hosts for p in h.programs):
        return []
    where = log_hosts[0].name if log_hosts else "the audit writer's host"
    return [f"{', '.join(away)} reads the audit log over the bus: add audit-reader to "
            f"hosts.{where}.programs"]


def _names(cluster: Cluster, known: set[str]) -> list[str]:
    out = []
    where: dict[str, list[str]] = defaultdict(list)
    by_template: dict[str, list[str]] = defaultdict(list)
    for host, prog in cluster.programs():
        where[prog.name].append(host.name)
        by_template[prog.template].append(f"{host.name}:{prog.name}")
        if prog.template not in known:
            out.append(f"hosts.{host.name}: program {prog.name!r} runs {prog.template!r}, "
                       f"which supervisord.conf does not have (programs: "
                       f"{', '.join(sorted(known))})")
    for name, hosts in where.items():
        if len(hosts) > 1:
            out.append(f"program {name!r} is assigned {len(hosts)} times ({', '.join(hosts)}): "
                       f"a service name runs once in a cluster (name instances "
                       f"{name}-1, {name}-2)")
    for template in SINGLE_INSTANCE:
        placed = by_template.get(template, [])
        if len(placed) > 1:
            out.append(f"{template} must run once in the cluster, assigned {len(placed)} times "
                       f"({', '.join(placed)})")
    return out


def _addresses(cluster: Cluster) -> list[str]:
    out = []
    seen: dict[str, str] = {}
    for host in cluster.hosts.values():
        if host.address in WILDCARDS:
            out.append(f"hosts.{host.name}.address: {host.address!r} is a wildcard; give the "
                       f"address the others reach this host at")
        try:
            ipaddress.ip_address(host.address)
        except ValueError:
            pass  # a DNS name is fine
        if host.address in seen:
            out.append(f"hosts.{host.name}.address: {host.address} is also "
                       f"hosts.{seen[host.address]}'s")
        seen.setdefault(host.address, host.name)
    return out


def _endpoints(cluster: Cluster) -> list[str]:
    proxies = cluster.proxy_hosts()
    if not proxies:
        return ["no host runs a proxy program: nothing binds the bus's endpoints"]
    out = []
    for host in proxies:
        n = sum(p.template == PROXY for p in host.programs)
        if n > 1:
            out.append(f"hosts.{host.name}: {n} proxy programs bind the same "
                       f"{host.address}:{cluster.xsub_port}/{cluster.xpub_port}")
    if cluster.base_config is not None and cluster.base_config.is_file():
        bus = tomllib.loads(cluster.base_config.read_text()).get("bus", {})
        bound = {h.address for h in proxies}
        for addr in bus.get("proxy_hosts", []):
            if addr not in bound:
                out.append(f"{cluster.base_config}: [bus].proxy_hosts: no host binds {addr} "
                           f"(proxies: {', '.join(sorted(bound))})")
    elif cluster.base_config is not None:
        out.append(f"cluster.config: {cluster.base_config} not found")
    return out


def _keys(cluster: Cluster) -> list[str]:
    """Each principal's CURVE secret in its own directory, every public certificate in
    ``public/`` (the shared key layout; ``hope keys init`` makes them)."""
    keys: Path = cluster.keys
    if not keys.is_dir():
        return [f"cluster.keys: {keys} is not a directory (run `hope keys init` there)"]
    out = []
    needed = [(h.name, p.name) for h, p in cluster.programs()] + [
        ("every host", name) for name in (LISTENER, OPERATOR)]
    for where, name in needed:
        secret = keys / name / "curve.key_secret"
        public = keys / "public" / f"{name}.curve.key"
        missing = [str(p.relative_to(keys)) for p in (secret, public) if not p.is_file()]
        if missing:
            out.append(f"hosts.{where}: {name!r} has no key: missing {', '.join(missing)} "
                       f"under {keys} (hope keys enrol {name})")
    return out
