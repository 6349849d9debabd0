"""``hope dlq list | show ID | retry ID | retry --all | purge ID | purge --done``.

Works on the retry daemon's store directly (same host); the daemon picks changes up on its next
poll. IDs may be abbreviated to any unique prefix. On another host of a cluster (no store here,
``[audit] reader = "bus"``) ``retry`` publishes CONTROL ``retry`` to the daemon instead (full
ID); ``list``, ``show`` and ``purge`` need the daemon's host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime

from hope.bus import oneshot
from hope.cli import load_config
from hope.config import Config
from hope.control.retry import retry_payload
from hope.dlq.store import DlqStore, DlqStoreError, Letter


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("dlq", parents=[common], help="inspect and retry dead letters")
    dsub = p.add_subparsers(dest="dlq_command", required=True)
    # The common options are accepted after the action too (`hope dlq list --state-dir X`);
    # SUPPRESS keeps a nested default from overwriting a value given before the action.
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ls = dsub.add_parser("list", help="list letters", parents=[nested])
    ls.add_argument("--status", choices=["pending", "retrying", "parked", "done"])
    ls.add_argument("--json", action="store_true")
    show = dsub.add_parser("show", help="show one letter with every error", parents=[nested])
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    retry = dsub.add_parser("retry", help="retry a parked or pending letter now", parents=[nested])
    retry.add_argument("id", nargs="?")
    retry.add_argument("--all", action="store_true", help="every parked and pending letter")
    purge = dsub.add_parser("purge", help="delete a letter", parents=[nested])
    purge.add_argument("id", nargs="?")
    purge.add_argument("--done", action="store_true", help="delete every done letter")
    p.set_defaults(func=run)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(letters: list[Letter], now: float) -> str:
    """A fixed-width table, one letter a line; 'next' is relative to ``now``."""
    head = f"{'ID':<15} {'STATUS':<8} {'SERVICE':<16} {'HANDLER':<20} {'EVENT':<9} {'TRIES':>5} " \
           f"{'NEXT':>8}  LAST ERROR"
    lines = [head]
    for lt in letters:
        nxt = "-" if lt.next_attempt_at is None else f"{max(0.0, lt.next_attempt_at - now):.0f}s"
        last = lt.errors[-1]["error"] if lt.errors else ""
        lines.append(f"{lt.id:<15} {lt.status:<8} {_short(lt.service, 16):<16} "
                     f"{_short(lt.handler, 20):<20} {_short(lt.event_type, 9):<9} "
                     f"{lt.attempts:>5} {nxt:>8}  {_short(str(last), 50)}")
    return "\n".join(lines)


def format_letter(lt: Letter) -> str:
    out = [f"id:          {lt.id}", f"status:      {lt.status}" +
           (f" ({lt.reason})" if lt.reason else ""),
           f"service:     {lt.service}", f"handler:     {lt.handler}",
           f"event:       {lt.event_type} {lt.event_id}", f"attempts:    {lt.attempts}",
           f"created:     {_when(lt.created_at)}", f"next try:    {_when(lt.next_attempt_at)}",
           "errors:"]
    for i, e in enumerate(lt.errors, 1):
        kind = f" [{e.get('error_type')}]" if e.get("error_type") else ""
        out.append(f"  {i}. {_when(e.get('at'))}{kind} {e.get('error')}")
    out.append("payload:")
    out.append(json.dumps(lt.event.get("payload"), indent=2, sort_keys=True))
    return "\n".join(out)


def _find(store: DlqStore, ident: str) -> Letter | None:
    letter = store.find(ident)
    if letter is None:
        print(f"hope dlq: no letter {ident!r} (or the prefix is ambiguous)", file=sys.stderr)
    return letter


def retry_over_the_bus(cfg: Config, args: argparse.Namespace) -> int:
    """On a host without the store (``[audit] reader = "bus"``): CONTROL ``retry`` to the
    retry daemon, wherever it runs (:mod:`hope.control.retry`); the full ID is needed there."""
    if bool(args.id) == bool(args.all):
        print("hope dlq retry: give one ID or --all", file=sys.stderr)
        return 2
    env, audited = asyncio.run(oneshot.publish_once(cfg, "CONTROL", retry_payload(
        None if args.all else args.id)))
    print(f"CONTROL retry {'--all' if args.all else args.id} published to dlq-retry "
          f"({env.event_id}{'' if audited else ', not yet audited'})")
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    path = cfg.state.dlq / cfg.dlq.db_name
    if not path.exists() and cfg.audit.reader == "bus" and args.dlq_command == "retry":
        return retry_over_the_bus(cfg, args)
    if not path.exists():
        if args.dlq_command == "list":
            print(f"no dead letters (no store yet at {path})")
            return 0
        print(f"hope dlq: no DLQ store at {path}", file=sys.stderr)
        return 1
    try:
        store = DlqStore(path)
    except DlqStoreError as exc:
        print(f"hope dlq: {exc}", file=sys.stderr)
        return 1
    with store:
        return _dispatch(store, args, time.time())


def _dispatch(store: DlqStore, args: argparse.Namespace, now: float) -> int:
    cmd = args.dlq_command
    if cmd == "list":
        letters = store.list(args.status)
        if args.json:
            print(json.dumps([lt.to_dict() for lt in letters], indent=2))
            return 0
        counts = store.counts()
        print(format_table(letters, now))
        print("\n" + "  ".join(f"{k}: {v}" for k, v in counts.items()))
        return 0
    if cmd == "show":
        letter = _find(store, args.id)
        if letter is None:
            return 1
        print(json.dumps(letter.to_dict(), indent=2) if args.json else format_letter(letter))
        return 0
    if cmd == "retry":
        if bool(args.id) == bool(args.all):
            print("hope dlq retry: give one ID or --all", file=sys.stderr)
            return 2
        if args.all:
            ids = store.request_retry(None, now)
        else:
            letter = _find(store, args.id)
            if letter is None:
                return 1
            ids = store.request_retry(letter.id, now)
            if not ids:
                print(f"hope dlq: letter {letter.id} is {letter.status}; only parked or pending "
                      "letters can be retried", file=sys.stderr)
                return 1
        print(f"scheduled {len(ids)} letter(s) for retry now: {' '.join(ids) or '-'}")
        return 0
    if cmd == "purge":
        if bool(args.id) == bool(args.done):
            print("hope dlq purge: give one ID or --done", file=sys.stderr)
            return 2
        if args.done:
            print(f"purged {store.purge_done()} done letter(s)")
            return 0
        letter = _find(store, args.id)
        if letter is None:
            return 1
        store.purge(letter.id)
        print(f"purged {letter.id} ({letter.status}, {letter.attempts} attempt(s))")
        return 0
    return 2
