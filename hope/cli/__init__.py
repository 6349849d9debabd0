"""The ``hope`` console script. One module per command; each registers its own sub-parser."""

from __future__ import annotations

import argparse
import importlib
import sys

from hope.bus.curve import CurveKeyError
from hope.config import Config, ConfigError, load

COMMANDS = [
    "sniff", "keys", "audit", "trace", "scanner", "trading", "flatten", "report",
    "dlq", "status", "replay", "venue_sim", "venue", "witness", "ack_position", "privsep",
    "cluster",
]


def load_config(args: argparse.Namespace) -> Config:
    return load(getattr(args, "config", None), getattr(args, "state_dir", None))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", help="state directory (default: $HOPE_STATE_DIR or ./state)")
    common.add_argument("--config", help="config file (default: $HOPE_CONFIG or ./hope.toml)")
    parser = argparse.ArgumentParser(prog="hope", description="HOPE operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"hope.cli.{name}").register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"hope: bad config: {exc}", file=sys.stderr)
        return 2
    except CurveKeyError as exc:  # tcp bus without the operator's CURVE key
        print(f"hope: {exc}", file=sys.stderr)
        return 78
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
