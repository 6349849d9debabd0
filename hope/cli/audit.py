"""``hope audit verify|status|accept``: verify, inspect what start-up would do, accept a reset.

- ``verify [--strict] [--json] [--witness [URL]]``: the whole log under the pinned key(s)
  (``[audit] trusted_keys`` and the local pin file); ``--witness URL`` (repeatable; alone: the
  configured ``[audit] witnesses``) also fails on a rollback or a fork against the witness.
- ``status [--json]``: what the audit writer would do at start (read-only): continue, set an
  unsealed tail aside (how many records, from where), or refuse naming ``file:line``.
- ``prove EVENT_ID [--json]``: the RFC 6962 inclusion proof of one audited event under the
  latest checkpoint (leaf index, tree size, root, the proof's hashes, the signed note), checked
  before it is printed; a third party checks it with docs/AUDIT.md's rules.
- ``accept --reason TEXT``: when start-up refuses, archive ``events/`` and
  ``checkpoint-copy/`` under ``quarantine/accepted-<time>/`` and begin a new log whose first
  record, AUDIT_ACCEPT, names the failure, the reason, the operator and the archive (sealed by
  the new log's first checkpoint). Stop ``hope:audit-writer`` first.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time

from hope.audit.checkpoints import CheckpointLines
from hope.audit.log import Manifest
from hope.audit.pins import read_pins
from hope.audit.startup import AuditStartError, plan_start, trusted_keys
from hope.audit.verify import render, verify
from hope.cli import load_config
from hope.config import Config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", parents=[common], help="audit log tools")
    asub = p.add_subparsers(dest="audit_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    v = asub.add_parser("verify", parents=[nested],
                        help="check records, chains, Merkle tree, checkpoints, witnesses")
    v.add_argument("--strict", action="store_true", help="an unsealed tail is a failure")
    v.add_argument("--json", action="store_true", help="machine-readable report")
    v.add_argument("--witness", action="append", nargs="?", const="configured", default=[],
                   metavar="URL", help="compare with a witness (alone: the configured ones)")
    s = asub.add_parser("status", parents=[nested], help="what the writer would do at start")
    s.add_argument("--json", action="store_true")
    pr = asub.add_parser("prove", parents=[nested], help="inclusion proof of one event")
    pr.add_argument("event_id")
    pr.add_argument("--json", action="store_true")
    a = asub.add_parser("accept", parents=[nested],
                        help="archive a log start-up refuses and begin a new one (audited)")
    a.add_argument("--reason", required=True, help="why (kept in the AUDIT_ACCEPT record)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    return {"verify": run_verify, "status": run_status, "accept": run_accept,
            "prove": run_prove}[
        args.audit_command](cfg, args)


def _witness_clients(cfg: Config, wanted: list[str]) -> list[object]:
    from hope.audit.witness_push import parse_entry

    entries: list[str] = []
    for w in wanted:
        entries += cfg.audit.witnesses if w == "configured" else [w]
    configured = {e.split(" ", 1)[0]: e for e in cfg.audit.witnesses}
    return [parse_entry(configured.get(e.split(" ", 1)[0], e)) for e in entries]


def run_verify(cfg: Config, args: argparse.Namespace) -> int:
    report = verify(cfg.state, read_pins(cfg), strict=args.strict,
                    witnesses=_witness_clients(cfg, args.witness), origin=cfg.audit.origin,
                    interval_s=cfg.audit.checkpoint_interval_ms / 1000)
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    return 0 if report.ok else 1


def inspect(cfg: Config) -> dict[str, object]:
    """The start-up plan, read-only."""
    state = cfg.state
    cps = CheckpointLines.read(state.events, state.checkpoint_copy)
    try:
        plan = plan_start(state.events, Manifest.load(state.events), cps,
                          trusted_keys(state.keys, read_pins(cfg)))
    except AuditStartError as exc:
        return {"ok": False, "refuses": str(exc)}
    latest = plan.latest.checkpoint if plan.latest else None
    return {"ok": True, "sealed_size": latest.size if latest else 0,
            "origin": latest.origin if latest else None,
            "families": {f: n for f, (n, _) in plan.counts.items()},
            "unsealed_tail": plan.tail_records,
            "tail_from": {f: c.where for f, c in plan.cuts.items() if plan.tail_records}}


def run_status(cfg: Config, args: argparse.Namespace) -> int:
    st = inspect(cfg)
    if args.json:
        print(json.dumps(st, indent=2))
    elif not st["ok"]:
        print(f"audit status: the writer REFUSES to start: {st['refuses']}\n"
              "  inspect the file named, then `hope audit accept --reason TEXT` to archive this "
              "log and begin a new one")
    else:
        tail = st["unsealed_tail"]
        print(f"audit status: OK: sealed {st['sealed_size']} records ({st['origin']}); "
              + (f"{tail} unsealed record(s) will be quarantined and asked for again "
                 f"(from {', '.join(st['tail_from'].values())})" if tail else "no unsealed tail"))
    return 0 if st["ok"] else 1


def run_accept(cfg: Config, args: argparse.Namespace) -> int:
    from hope.audit.writer import AuditWriter

    st = inspect(cfg)
    if st["ok"]:
        print("hope audit accept: nothing to accept (the writer starts on this log)")
        return 0
    state = cfg.state
    archive = state.quarantine / f"accepted-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    archive.mkdir(parents=True)
    for d in (state.events, state.checkpoint_copy):
        if d.exists():
            d.rename(archive / d.name)
    legacy = state.witness / "checkpoints.jsonl"  # the copy's place before the Merkle format
    if legacy.exists():
        legacy.rename(archive / "witness-checkpoints.jsonl")
    state.ensure()
    with AuditWriter(state, cfg.audit, source="hope-cli", pinned=read_pins(cfg)) as w:
        w.own_event("AUDIT_ACCEPT", {"failure": st["refuses"], "reason": args.reason,
                                     "by": getpass.getuser(),
                                     "archived": str(archive.relative_to(state.root))})
    print(f"accepted: the refused log is archived in {archive}; a new log begins with an "
          "AUDIT_ACCEPT record. A witness of this log holds the old tree: on the witness host, "
          "check the record, then `hope witness forget ORIGIN`.")
    return 0


def run_prove(cfg: Config, args: argparse.Namespace) -> int:
    from hope.audit.prove import prove

    try:
        proof = prove(cfg.state, args.event_id)
    except LookupError as exc:
        print(f"hope audit prove: {exc}")
        return 1
    if args.json:
        print(json.dumps(proof, indent=2))
    else:
        print(f"{proof['event_id']} is leaf {proof['leaf']} ({proof['where']}) of the tree of "
              f"{proof['tree_size']} signed at {proof['checkpoint_time']}; root "
              f"{proof['root']}; proof: {' '.join(proof['proof']) or '(none)'}")
    return 0
