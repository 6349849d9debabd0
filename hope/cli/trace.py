"""``hope trace CORRELATION_ID [--json]``: signal → decision → order → fill → close.

CORRELATION_ID whole or a prefix of it (the 12 characters ``hope sniff`` shows); exit 1 when
nothing has it, 2 when several correlation ids start with the prefix (they are listed)."""

from __future__ import annotations

import argparse
import sys

from hope.audit.remote import AuditUnavailable, open_audit
from hope.audit.trace import AmbiguousPrefix, render, to_json, trace
from hope.cli import load_config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("trace", parents=[common],
                       help="follow one correlation id through the audit log")
    p.add_argument("correlation_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:  # from another host: the audit host's audit-reader answers ([audit] reader = "bus")
        reader = open_audit(cfg, exclude=["prices"])
    except AuditUnavailable as exc:
        print(f"hope trace: audit log unavailable: {exc}", file=sys.stderr)
        return 3
    try:
        hops = trace(reader, args.correlation_id)
    except AmbiguousPrefix as exc:
        print(f"hope trace: {exc}", file=sys.stderr)
        return 2
    cid = hops[0].correlation_id if hops else args.correlation_id
    print(to_json(cid, hops) if args.json else render(cid, hops))
    return 0 if hops else 1
