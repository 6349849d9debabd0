"""``hope venue status [--json]`` and ``hope venue keys --stand-in [--force]``.

``status``: the live venue, its last reconciliation, its breaker, from
``<state>/venue/status.json`` (written by the executor after every reconciliation and breaker
change, :mod:`hope.venue.status`). Exit 0 when the breaker is closed, 1 when it is reconciling or
open (the reason is shown), 2 when there is no live venue status here (paper trading).

``keys --stand-in``: generated test credentials for ``hope venue-sim --keys
state/keys/binance`` in ``<state>/keys/binance/`` (0700, files 0600). Never for a real venue;
it refuses to replace existing key files without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hope.cli import load_config
from hope.venue.status import read_status


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("venue", parents=[common],
                       help="live venue: status (venue, last reconciliation, breaker)")
    p.add_argument("action", choices=["status", "keys"])
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.add_argument("--stand-in", action="store_true",
                   help="keys: generate test keys for hope venue-sim (never a real venue's)")
    p.add_argument("--force", action="store_true", help="keys: replace existing key files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if args.action == "keys":
        return stand_in_keys(cfg.state.keys, stand_in=args.stand_in, force=args.force)
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


def stand_in_keys(keys_dir: Path, *, stand_in: bool, force: bool) -> int:
    if not stand_in:
        print("hope venue keys: only --stand-in keys are generated; put a real venue's API key "
              f"and secret in {keys_dir / 'binance'}/api_key and /secret (0600) yourself",
              file=sys.stderr)
        return 2
    existing = [p for p in (keys_dir / "binance").glob("*") if p.is_file()]
    if existing and not force:
        print(f"hope venue keys: {keys_dir / 'binance'} already holds key files "
              f"({', '.join(p.name for p in existing)}); --force replaces them", file=sys.stderr)
        return 1
    from hope.venue_sim.testing import generate_test_keys
    generate_test_keys(keys_dir.parent)
    print(f"stand-in test keys written to {keys_dir / 'binance'} "
          f"(hope venue-sim --keys {keys_dir / 'binance'})")
    return 0


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
