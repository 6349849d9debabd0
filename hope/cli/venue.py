"""``hope venue status [--json]``: the live venue, its last reconciliation, its breaker.

Reads ``<state>/venue/status.json`` (written by the executor after every reconciliation and
breaker change, :mod:`hope.venue.status`). Exit 0 when the breaker is closed, 1 when it is
reconciling or open (the reason is shown), 2 when there is no live venue status here (paper
trading). Test keys for the stand-in: ``hope venue-sim --test-keys state``.
"""

from __future__ import annotations

import argparse
import json
import time

from hope.cli import load_config
from hope.venue.status import read_status


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("venue", parents=[common],
                       help="live venue: status (venue, last reconciliation, breaker)")
    p.add_argument("action", choices=["status"])
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    status = read_status(cfg.state.venue)
    exchange = cfg.execution.exchange
    if args.json:
        print(json.dumps({"exchange": exchange, "status": status}))
    elif status is None:
        print(f"exchange: {exchange}; no live venue status in {cfg.state.venue}")
    else:
        print(_text(exchange, status))
    if status is None:
        return 2
    return 0 if status.get("breaker", {}).get("state") == "closed" else 1


def _text(exchange: str, status: dict) -> str:
    breaker = status.get("breaker") or {}
    rep = status.get("last_reconciliation") or {}
    lines = [f"exchange: {exchange}  venue: {status.get('venue')}  rest_url: "
             f"{status.get('rest_url')}",
             f"breaker: {breaker.get('state')}" + (f" ({breaker['reason']})"
                                                   if breaker.get("reason") else "")]
    if rep:
        age = time.time() - float(rep.get("wall_ts") or 0)
        verdict = "passed" if rep.get("passed") else "FAILED"
        lines.append(f"last reconciliation: {verdict}, {age:.0f}s ago; resolved "
                     f"{rep.get('resolved', 0)}, unknown orders "
                     f"{len(rep.get('unknown_orders') or [])}, unresolved "
                     f"{len(rep.get('unresolved') or [])}")
        lines += [f"  problem: {p}" for p in rep.get("problems") or []]
        if rep.get("error"):
            lines.append(f"  error: {rep['error']}")
        lines += [f"  balance {b['asset']}: venue {b['venue']:g}, positions {b['positions']:g}"
                  for b in rep.get("balances") or []]
    else:
        lines.append("last reconciliation: none yet")
    return "\n".join(lines)
