"""``hope cluster render --host NAME``: one host's ``hope.toml`` and ``supervisord.conf`` from
the cluster file and the one supervisord template.

The host's config is the cluster's base config with what differs per host written over it:
``[hope] host``, ``[bus] transport = "tcp"``, ``tcp_host`` (the address its proxy binds),
``proxy_hosts`` (every proxy's address, which each client connects to), the ports, the scanner
instances added to ``[market_clock] publishers``, ``[audit] reader = "bus"`` on hosts without
the audit log, and ``[health] required`` naming the cluster's instances. A program with keys of its own
(``[programs.<name>] config``, e.g. a scanner's shard) gets ``hope.<name>.toml`` and
``--config`` on its command line; an instance (``scanner-2``) gets ``--name``.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hope.cluster import toml_text
from hope.cluster.spec import Cluster, Host
from hope.health.config import HealthConfig
from hope.paths import StatePaths
from hope.principals import LISTENER, OPERATOR
from hope.supervisor_conf import instance, render

DEFAULT_PUBLISHERS = ["scanner"]
DEFAULT_REQUIRED = HealthConfig().required


@dataclass
class Rendered:
    host: str
    config: Path        # the host's hope.toml
    supervisord: Path   # its supervisord.conf
    program_configs: dict[str, Path]
    keys: list[str]     # the key directories copied into its state dir


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` written into a copy of ``base``, table by table."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def host_config(cluster: Cluster, host: Host) -> dict[str, Any]:
    """The host's config as TOML data (base config + the per-host keys)."""
    base = tomllib.loads(cluster.base_config.read_text()) if cluster.base_config else {}
    publishers = list(base.get("market_clock", {}).get("publishers", DEFAULT_PUBLISHERS))
    for _, prog in cluster.programs():
        if prog.template in publishers and prog.name not in publishers:
            publishers.append(prog.name)
    keeps_log = any(p.template == "audit-writer" for p in host.programs)
    required = base.get("health", {}).get("required", DEFAULT_REQUIRED)
    return merge(base, {
        "audit": {"reader": "local" if keeps_log else "bus"},
        # /health wants the cluster's instances of the required programs, wherever they run
        "health": {"required": [p.name for _, p in cluster.programs() if p.template in required]},
        "hope": {"host": host.name},
        "bus": {"transport": "tcp", "tcp_host": host.address,
                "proxy_hosts": [h.address for h in cluster.proxy_hosts()],
                "proxy_names": [cluster.proxy_program(h).name for h in cluster.proxy_hosts()],
                "xsub_port": cluster.xsub_port, "xpub_port": cluster.xpub_port},
        "market_clock": {"publishers": publishers},
    })


def render_host(cluster: Cluster, name: str, stage: Path | None = None,
                python: str | None = None) -> Rendered:
    """Write host ``name``'s state-dir files (``run/hope.toml``, ``run/hope.<program>.toml``,
    ``run/supervisord.conf``, ``keys/``) into its state dir, or into ``stage`` to be copied
    there (rendered on the operator's machine); paths inside always name the host's own."""
    host = cluster.host(name)
    state = Path(host.state_dir).absolute()
    root = Path(stage).absolute() if stage else state
    StatePaths.at(root).ensure()
    data = host_config(cluster, host)
    config = root / "run" / "hope.toml"
    config.write_text(_header(cluster, name) + toml_text.dumps(data))
    extra, own = [], {}
    for prog in host.programs:
        args = []
        if prog.config:
            own[prog.name] = root / "run" / f"hope.{prog.name}.toml"
            own[prog.name].write_text(_header(cluster, name)
                                      + toml_text.dumps(merge(data, prog.config)))
            args += ["--config", str(state / "run" / own[prog.name].name)]
        if prog.name != prog.template:
            args += ["--name", prog.name]
        # assigned means started, also what the one-host template starts on demand
        section = instance(prog.name, prog.template, args)
        extra.append(re.sub(r"(?m)^autostart=.*$", "autostart=true", section))
    conf = render(state, python, programs=[], extra="\n".join(extra),
                  out=root / "run" / "supervisord.conf", ensure=False,
                  environment={"HOPE_CONFIG": str(state / "run" / "hope.toml")})
    keys = copy_keys(cluster, host, root / "keys")
    return Rendered(name, config, conf, own, keys)


def host_principals(host: Host) -> list[str]:
    """Whose secrets the host holds: its programs, the supervisord event listener, and the
    operator (the CLI works from any host)."""
    return [p.name for p in host.programs] + [LISTENER, OPERATOR]


def copy_keys(cluster: Cluster, host: Host, dest: Path) -> list[str]:
    """Copy into ``dest`` (the host's ``keys/``) every public certificate and the secret
    directories of :func:`host_principals` only, modes kept (0700 / 0600, public 0755 / 0644).
    Nothing when ``dest`` is the cluster's key directory itself."""
    src = cluster.keys
    if dest.resolve() == src.resolve() or not src.is_dir():
        return []
    copied = []
    for name in ["public", *host_principals(host)]:
        if not (src / name).is_dir():
            continue
        target = dest / name
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o755 if name == "public" else 0o700)
        for f in (src / name).iterdir():
            if f.is_file():
                shutil.copy2(f, target / f.name)
                os.chmod(target / f.name, 0o644 if name == "public" else 0o600)
        copied.append(name)
    os.chmod(dest, 0o700)
    return copied


def _header(cluster: Cluster, host: str) -> str:
    return (f"# host {host} of {cluster.path}: written by `hope cluster render --host {host}`;"
            f" edit the cluster file, not this\n")
