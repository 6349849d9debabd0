"""``hope trading halt | reduce | resume | status``: the operator's levers.

A change is written to ``<state>/trading_state`` atomically first (services re-read it, and it is
what a restart sees), then published as ``CONTROL`` ``{service: "*", command}`` so running services
obey at once (:mod:`hope.control.trading`). If the bus is unreachable the file still holds; the
command says so and exits 3.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from typing import Any

from hope.audit.remote import AuditUnavailable, open_audit
from hope.authority import OPERATOR
from hope.bus import oneshot
from hope.cli import load_config
from hope.config import Config
from hope.control.trading import COMMAND_STATE, set_trading_state
from hope.envelope import Envelope
from hope.trading.state import TradingStateStore


async def publish_control(cfg: Config, payload: dict[str, Any]) -> Envelope:
    """Publish one CONTROL event from this process as principal ``operator``, with the OS user
    who ran the command (``os_user``: the audit log says who); warn when the audit has not
    taken it yet."""
    payload = {**payload, "os_user": os_user()}
    env, audited = await oneshot.publish_once(cfg, "CONTROL", payload, source=OPERATOR)
    if not audited:
        print("hope: CONTROL published but the audit writer has not acknowledged it yet",
              file=sys.stderr)
    return env


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return f"uid:{os.getuid()}"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("trading", parents=[common],
                       help="trading state: halt | reduce | resume | status")
    p.add_argument("action", choices=[*COMMAND_STATE, "status"])
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(func=run)


def audited_states(cfg: Config) -> dict[str, str]:
    """{service: state} from the newest TRADING_STATE of each service in the audit log (the
    audit host's, asked over the bus)."""
    reader = open_audit(cfg, families=["system"])
    return {str(r["payload"].get("service")): str(r["payload"].get("state"))
            for r in reader.last("TRADING_STATE", 200)}


def status(cfg: Config, store: TradingStateStore, as_json: bool) -> int:
    """This host's state file and, on a host without the audit log, what the services last
    announced (their TRADING_STATE events, from the audit host)."""
    state = store.load()
    info: dict[str, Any] = {"state": state, "file": str(store.path), "error": store.last_error}
    if cfg.audit.reader == "bus":
        try:
            info["services"] = audited_states(cfg)
        except AuditUnavailable as exc:
            info["services_error"] = str(exc)
    if as_json:
        print(json.dumps(info))
        return 0
    extra = f"  (fail-closed: {store.last_error})" if store.last_error else ""
    print(f"trading state: {state}{extra}")
    for service, st in sorted(info.get("services", {}).items()):
        print(f"  {service}: {st} (its latest TRADING_STATE in the audit log)")
    if "services_error" in info:
        print(f"  audit log unavailable: {info['services_error']}")
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    store = TradingStateStore(cfg.state.trading_state)
    if args.action == "status":
        return status(cfg, store, args.json)
    change = asyncio.run(set_trading_state(store, args.action, "hope trading " + args.action,
                                           lambda payload: publish_control(cfg, payload)))
    was = f"unknown ({change.previous_error})" if change.previous_error else change.previous
    print(f"trading state: {was} -> {change.state} (written to {store.path})")
    if change.error is not None:
        print(f"hope trading: CONTROL not published ({type(change.error).__name__}: "
              f"{change.error}); running services pick the file up on their next reload",
              file=sys.stderr)
        return 3
    print(f"CONTROL {args.action} published")
    return 0
