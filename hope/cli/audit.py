"""``hope audit verify [--strict] [--json]``: verify the audit log under the pinned key(s)."""

from __future__ import annotations

import argparse
import json

from hope.audit.verify import render, verify
from hope.cli import load_config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", parents=[common], help="audit log tools")
    asub = p.add_subparsers(dest="audit_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    v = asub.add_parser("verify", parents=[nested],
                        help="check hashes, chain, signatures, checkpoints, witness, sequences")
    v.add_argument("--strict", action="store_true", help="an unsealed tail is a failure")
    v.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    report = verify(cfg.state, cfg.audit.trusted_keys, strict=args.strict)
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    return 0 if report.ok else 1
