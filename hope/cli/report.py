"""``hope report [--json]``: signals, decisions, orders, fills, P&L from the audit log."""

from __future__ import annotations

import argparse
import json
import sys

from hope.cli import load_config
from hope.report import format_text, summarize


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[common], help="summarize trading from the audit log")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--top", type=int, default=5, help="how many SKIP reasons to list")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    events = cfg.state.events
    if not events.is_dir():
        print(f"hope report: no audit log at {events}", file=sys.stderr)
        return 1
    summary = summarize(events, top=args.top)
    if args.json:  # the text report lists bad lines itself; JSON readers get them on stderr too
        for warning in summary["warnings"]:
            print(f"hope report: warning: {warning}", file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else format_text(summary))
    return 0
