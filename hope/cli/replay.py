"""``hope replay [--from T] [--to T] [--speed X] [--config CANDIDATE.toml] [--source audit|FILE]``.

Re-runs recorded signals through a decision engine built from the candidate config (``--config``;
the state dir still selects whose audit log is read), in-process and isolated: its paper exchange
and ledger live in a throw-away work dir, nothing is published, the live executor never hears of
it. Prints BUY/SKIP flips against the recorded decisions (with the rules) and the candidate's P&L.
Exit 0 on success, 1 when the source cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile

from hope.cli import load_config
from hope.whatif.engine import ReplayEngine, format_result
from hope.whatif.sources import SourceError, load, parse_time


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("replay", parents=[common],
                       help="re-run recorded signals through a candidate config and diff")
    p.add_argument("--source", default="audit",
                   help="'audit' (default: <state>/events), an event file (.jsonl, v1 or v2) "
                        "or a market-data file")
    p.add_argument("--from", dest="start", help="market time: epoch seconds or ISO-8601 UTC")
    p.add_argument("--to", dest="end", help="market time: epoch seconds or ISO-8601 UTC")
    p.add_argument("--speed", type=float, default=0.0,
                   help="0 = as fast as possible (default); N = N x market time (gaps cut to 2 s)")
    p.add_argument("--flips", type=int, default=20, help="how many flips to list")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=run)


async def _replay(args: argparse.Namespace) -> int:
    config = load_config(args)
    try:
        start, end = parse_time(args.start), parse_time(args.end)
        timeline = (await load(config, args.source)).finish(start, end)
    except SourceError as exc:
        print(f"hope replay: {exc}", file=sys.stderr)
        return 1
    if args.speed < 0:
        print("hope replay: --speed must be >= 0", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hope-replay-") as work:
        result = await ReplayEngine(config, work, speed=args.speed).run(timeline)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_result(result, args.flips))
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_replay(args))
