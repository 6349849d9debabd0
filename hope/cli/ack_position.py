"""``hope ack-position ORDER_ID``: release the HALTED hold of one quarantined position.

Run it after closing (or otherwise settling) the position at the venue by hand. Publishes CONTROL
``{service: "executor", command: "ack_position", order_id}`` (:mod:`hope.control.ack_position`);
exits 3 when the bus is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hope.cli import load_config
from hope.cli.trading import publish_control
from hope.control.ack_position import ack_position_payload


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ack-position", parents=[common],
                       help="acknowledge a quarantined position (releases the executor's hold)")
    p.add_argument("order_id")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:
        asyncio.run(publish_control(cfg, ack_position_payload(args.order_id)))
    except Exception as exc:  # the bus is down: report, don't crash
        print(f"hope ack-position: CONTROL not published: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 3
    print(f"CONTROL ack_position {args.order_id} published: the executor releases its hold")
    return 0
