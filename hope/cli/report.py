"""``hope report [--json] [--shadow]``: signals, decisions, orders, fills, P&L from the audit log.

``--shadow`` instead compares the shadow engine's SHADOW_DECISIONs with the live DECISIONs.
``--html FILE [--since T] [--until T]`` writes the dashboard's charts for that range of wall-clock
time as one self-contained page (hope.dashboard.report).
"""

from __future__ import annotations

import argparse
import json
import sys

from hope.audit.reader import AuditReader
from hope.audit.remote import AuditUnavailable, open_audit
from hope.audit.report import format_text, summarize
from hope.cli import load_config
from hope.decision import shadow_report


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[common], help="summarize trading from the audit log")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--top", type=int, default=5, help="how many SKIP reasons to list")
    p.add_argument("--shadow", action="store_true",
                   help="compare the shadow engine's decisions with the live ones")
    p.add_argument("--flips", type=int, default=50, help="with --shadow: how many flips to list")
    p.add_argument("--html", metavar="FILE",
                   help="write the dashboard's charts as one offline HTML page")
    p.add_argument("--since", metavar="TIME",
                   help="with --html: events from this wall-clock time (ISO 8601 or epoch s)")
    p.add_argument("--until", metavar="TIME", help="with --html: events before this time")
    p.set_defaults(func=run)


def run_html(args: argparse.Namespace, reader: AuditReader) -> int:
    from hope.dashboard.history import parse_time
    from hope.dashboard.report import write_report
    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        print(f"hope report: --since/--until: {exc}", file=sys.stderr)
        return 2
    data = write_report(args.html, reader, since, until)
    for warning in reader.warnings:
        print(f"hope report: warning: {warning}", file=sys.stderr)
    print(f"wrote {args.html}: {data['range']}")
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:  # from another host: the audit host's audit-reader answers ([audit] reader = "bus")
        reader = open_audit(cfg)
    except AuditUnavailable as exc:
        print(f"hope report: audit log unavailable: {exc}", file=sys.stderr)
        return 3
    if not reader.exists():
        print(f"hope report: no audit log at {reader.source}", file=sys.stderr)
        return 1
    if args.html:
        return run_html(args, reader)
    if args.shadow:
        comparison = shadow_report.compare(reader, max_flips=args.flips)
        if args.json:
            for warning in comparison["warnings"]:
                print(f"hope report: warning: {warning}", file=sys.stderr)
        print(json.dumps(comparison, indent=2) if args.json else shadow_report.format_text(comparison))
        return 0
    summary = summarize(reader, top=args.top)
    if args.json:  # the text report lists bad lines itself; JSON readers get them on stderr too
        for warning in summary["warnings"]:
            print(f"hope report: warning: {warning}", file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else format_text(summary))
    return 0
