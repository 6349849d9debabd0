"""``hope flatten``: the executor closes every open position (CLOSE reason ``flatten``)."""

from __future__ import annotations

import argparse
import sys

from hope.cli import load_config
from hope.cli.trading import publish_control


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("flatten", parents=[common], help="close every open position now")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    error = publish_control(cfg, "flatten")
    if error:
        print(f"hope flatten: CONTROL not published: {error}", file=sys.stderr)
        return 3
    print("CONTROL flatten published: the executor closes every open position")
    return 0
