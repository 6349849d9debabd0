"""``hope trading halt | reduce | resume | status``: the operator's levers.

A change is written to ``<state>/trading_state`` atomically first (services re-read it, and it is
what a restart sees), then published as ``CONTROL`` ``{service: "*", command}`` so running services
obey at once. If the bus is unreachable the file still holds; the command says so and exits 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from hope.bus import oneshot
from hope.cli import load_config
from hope.config import Config
from hope.decision.trading_state import COMMAND_STATE, TradingStateStore


def publish_control(cfg: Config, command: str) -> str | None:
    """Publish CONTROL ``command`` to every service; return an error text, None on success."""
    try:
        _, audited = asyncio.run(oneshot.publish_once(cfg, "CONTROL",
                                                      {"service": "*", "command": command}))
    except Exception as exc:  # the bus is down: report, don't crash
        return f"{type(exc).__name__}: {exc}"
    if not audited:
        print("hope: CONTROL published but the audit writer has not acknowledged it yet",
              file=sys.stderr)
    return None


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("trading", parents=[common],
                       help="trading state: halt | reduce | resume | status")
    p.add_argument("action", choices=["halt", "reduce", "resume", "status"])
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    store = TradingStateStore(cfg.state.trading_state)
    if args.action == "status":
        state = store.load()
        info = {"state": state, "file": str(store.path), "error": store.last_error}
        if args.json:
            print(json.dumps(info))
        else:
            extra = f"  (fail-closed: {store.last_error})" if store.last_error else ""
            print(f"trading state: {state}{extra}")
        return 0
    new = COMMAND_STATE[args.action]
    old = store.load()
    was = f"unknown ({store.last_error})" if store.last_error else old
    store.save(new, changed_by="hope trading " + args.action)
    print(f"trading state: {was} -> {new} (written to {store.path})")
    error = publish_control(cfg, args.action)
    if error:
        print(f"hope trading: CONTROL not published ({error}); running services pick the "
              "file up on their next reload", file=sys.stderr)
        return 3
    print(f"CONTROL {args.action} published")
    return 0
