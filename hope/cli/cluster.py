"""``hope cluster check | render --host NAME``: HOPE on several hosts from one cluster file.

``check`` prints every reason the cluster file must not be deployed (a single-instance program
assigned twice, a program the template lacks, a missing key, an endpoint no host binds) and
exits 1 when there is one. ``render`` runs the same checks, then writes the host's
``hope.toml``, per-program configs and ``supervisord.conf`` (format: :mod:`hope.cluster.spec`;
procedure: docs/RUNBOOK.md, "Several hosts").
"""

from __future__ import annotations

import argparse
import configparser
import sys

from hope.cluster.check import problems
from hope.cluster.render import render_host
from hope.cluster.spec import ClusterError, load
from hope.supervisor_conf import template


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("cluster", help="several hosts: check | render --host NAME")
    p.add_argument("action", choices=["check", "render"])
    p.add_argument("--file", default="cluster.toml", help="the cluster file (cluster.toml)")
    p.add_argument("--host", help="render: the host whose files to write")
    p.add_argument("--out", help="render: a directory to stage the host's state dir in (to be "
                                 "copied there); default: the host's state dir itself")
    p.set_defaults(func=run)


def template_programs() -> list[str]:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(template())
    return [s.split(":", 1)[1] for s in parser.sections() if s.startswith("program:")]


def run(args: argparse.Namespace) -> int:
    try:
        cluster = load(args.file)
    except ClusterError as exc:
        print(f"hope cluster: {exc}", file=sys.stderr)
        return 2
    found = problems(cluster, template_programs())
    for p in found:
        print(f"hope cluster: {cluster.path}: {p}", file=sys.stderr)
    if found:
        return 1
    if args.action == "check":
        hosts = ", ".join(f"{h.name} ({len(h.programs)})" for h in cluster.hosts.values())
        print(f"cluster OK: {hosts}; proxies on "
              f"{', '.join(h.name for h in cluster.proxy_hosts())}")
        return 0
    if not args.host:
        print("hope cluster render: --host NAME is required", file=sys.stderr)
        return 2
    try:
        out = render_host(cluster, args.host, args.out)
    except ClusterError as exc:
        print(f"hope cluster: {exc}", file=sys.stderr)
        return 2
    print(f"host {out.host}: {out.config}, {out.supervisord}"
          + "".join(f", {p}" for p in out.program_configs.values()))
    return 0
