"""``hope flatten``: the executor closes every open position (CLOSE reason ``flatten``).

Publishes CONTROL ``{service: "*", command: "flatten"}`` (:mod:`hope.control.flatten`); exits 3
when the bus is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hope.cli import load_config
from hope.cli.trading import publish_control
from hope.control.flatten import flatten_payload


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("flatten", parents=[common], help="close every open position now")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:
        asyncio.run(publish_control(cfg, flatten_payload()))
    except Exception as exc:  # the bus is down: report, don't crash
        print(f"hope flatten: CONTROL not published: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 3
    print("CONTROL flatten published: the executor closes every open position")
    return 0
