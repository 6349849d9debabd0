"""``hope status [--json]``: the service registry the health monitor writes to run/registry.json.

Exit status: 0 when every required service is UP, 1 otherwise or when there is no registry.
A registry the monitor stopped updating is flagged: statuses older than ``down_after_s`` are
shown as STALE rather than trusted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from hope.bus.curve import allow_list, fingerprint
from hope.cli import load_config
from hope.feed.health import format_feed
from hope.health.registry import Registry


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="show the services and their health")
    p.add_argument("--json", action="store_true", help="print the registry as JSON")
    p.set_defaults(func=run)


def effective_status(entry: dict[str, Any], now: float, down_after_s: float) -> str:
    """The entry's status, or STALE when its last beat is older than the DOWN threshold while
    the registry still says UP (the monitor itself may be dead)."""
    status = str(entry.get("status", "UNKNOWN"))
    last = entry.get("last_beat") or 0
    if status == "UP" and now - last > 2 * down_after_s:
        return "STALE"
    return status


def format_audit_disk(name: str, audit: dict[str, Any]) -> str:
    """``audit-writer: events/ 1.2 GB of 10.0 GB (12.0 %), 3 segments archived``."""
    used, budget = audit.get("disk_bytes") or 0, audit.get("disk_budget_bytes") or 0
    share = f" of {budget / 1e9:.1f} GB ({audit.get('disk_percent')} %)" if budget else \
        " (no disk budget)"
    return (f"{name}: events/ {used / 1e9:.1f} GB{share}, "
            f"{int(audit.get('archived') or 0)} segments archived")


def format_principals(data: dict[str, Any], enrolled: dict[str, str] | None = None
                      ) -> list[str]:
    """Who each service is: its OS user and the key ids its heartbeat reports (else its
    enrolled CURVE key, marked so), then the instance's mode."""
    lines = ["", f"{'PRINCIPAL':<24} {'OS USER':<28} KEYS"]
    for name, e in sorted(data["services"].items()):
        p = e.get("progress") or {}
        used = {k.removesuffix("_key"): v for k, v in sorted(p.items())
                if k.endswith("_key") and isinstance(v, str)}
        if "curve" not in used and name in (enrolled or {}):
            used["curve"] = f"{enrolled[name]} (enrolled)"
        keys = " ".join(f"{k}={v}" for k, v in used.items()) or "-"
        lines.append(f"{name:<24} {str(p.get('user') or '-'):<28} {keys}")
    inst = data.get("instance") or {}
    if inst.get("privilege_separation"):
        lines.append(f"instance: one OS user per program (group {inst.get('group')})")
    elif inst:
        lines.append(f"instance: runs as a single user ({inst.get('user')}): every program can "
                     "read every key ([hope] privilege_separation = true separates them)")
    return lines


def format_table(data: dict[str, Any], now: float, down_after_s: float,
                 enrolled: dict[str, str] | None = None) -> str:
    lines = [f"{'SERVICE':<16} {'STATUS':<8} {'PID':>7} {'HOST':<12} {'VERSION':<9} "
             f"{'LAST BEAT':>10} {'RATE/S':>8} {'RESTARTS':>8}  DETAIL"]
    for name, e in sorted(data["services"].items()):
        last = e.get("last_beat") or 0
        age = f"{now - last:.1f}s" if last else "never"
        lines.append(f"{name:<16} {effective_status(e, now, down_after_s):<8} "
                     f"{e.get('pid') or '-'!s:>7} {str(e.get('host') or '-')[:12]:<12} "
                     f"{str(e.get('version') or '-')[:9]:<9} {age:>10} "
                     f"{float(e.get('rate') or 0):>8.1f} {int(e.get('restarts') or 0):>8}  "
                     f"{e.get('detail') or ''}")
    for name, e in sorted(data["services"].items()):
        feed = (e.get("progress") or {}).get("feed")
        if isinstance(feed, dict):
            lines.extend(format_feed(name, feed))
        audit = (e.get("progress") or {}).get("audit")
        if isinstance(audit, dict) and "disk_bytes" in audit:
            lines.append(format_audit_disk(name, audit))
    hosts = data.get("hosts") or {}
    if len(hosts) > 1 or any(h.get("status") != "UP" for h in hosts.values()):
        lines.append("")
        for name, h in sorted(hosts.items()):
            last = h.get("last_beat") or 0
            age = f"{now - last:.1f}s ago" if last else "never"
            skew = f", clock {h['clock_skew_s']:+.3f}s" if "clock_skew_s" in h else ""
            lines.append(f"host {name}: {h.get('status', '?')}, last beat {age}{skew} "
                         f"({', '.join(h.get('services') or [])})")
    lines.extend(format_principals(data, enrolled))
    port = (data.get("monitor") or {}).get("http_port")
    if port:
        lines.append(f"\nhealth monitor: http://127.0.0.1:{port}/")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    path = cfg.state.registry
    if not path.exists():
        print(f"hope status: no registry at {path} (is the health monitor running?)",
              file=sys.stderr)
        return 1
    try:
        data = Registry.read(path)
    except (ValueError, OSError) as exc:
        print(f"hope status: {exc}", file=sys.stderr)
        return 1
    now = time.time()
    down = cfg.health.down_after_s
    if args.json:
        for e in data["services"].values():
            e["effective_status"] = effective_status(e, now, down)
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        enrolled = {p: fingerprint(k) for k, p in allow_list(cfg.state).items()}
        print(format_table(data, now, down, enrolled))
    required = cfg.health.required
    ok = all(effective_status(data["services"].get(n, {}), now, down) == "UP" for n in required)
    return 0 if ok else 1
