"""``hope sniff [TOPIC_PREFIX ...]``: watch the bus at the proxy's XPUB.

Wire: a plain SUB socket on the XPUB endpoint, subscribed to each prefix (all when none); every
message is ``[topic, msgpack body]``. ``--json`` prints one object per line: the envelope plus
``topic``. Undecodable frames are printed as such (``"undecodable": reason``), never a crash.
Whatever a sender put in a topic or a field, control and format characters (terminal escapes,
bidi overrides) are printed escaped (``\x1b``), never raw: the bus is untrusted input.
``--recent N`` first prints the newest N audited events of those prefixes (marked "(audit log)"),
so a watcher started after the system sees what happened at its start. ``--correlation ID``
takes the id whole or a prefix and chooses as ``hope trace`` does: the exact id wins (from the
moment it shows up), two other ids starting with the prefix end it with exit status 2.
Ctrl-C (SIGINT) ends it with exit status 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

import msgspec
import zmq

from hope import codec
from hope.audit.canonical import family_for
from hope.audit.trace import AmbiguousPrefix, CorrelationFilter
from hope.bus.sockets import configure, proxy_endpoints, proxy_principals
from hope.envelope import Envelope, EnvelopeError
from hope.principals import OPERATOR

_ENVELOPE_FIELDS = tuple(Envelope.__struct_fields__)

SUMMARY_KEYS = ("action", "strategy", "status", "price", "avg_price", "exit_price", "pnl",
                "reason", "command", "state", "service", "handler", "error")
INTERNAL = (b"HELLO.", b"REPLAYED.")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sniff", parents=[common], help="watch events on the bus")
    p.add_argument("prefixes", nargs="*", metavar="TOPIC_PREFIX")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--correlation", metavar="ID",
                   help="only events of this correlation id (or a prefix: the 12 shown)")
    p.add_argument("--count", type=int, default=0, help="stop after N events")
    p.add_argument("--stats", action="store_true", help="events/s per topic, each second")
    p.add_argument("--timeout", type=float, default=0, help="give up after S seconds of silence")
    p.add_argument("--recent", type=int, default=0, metavar="N",
                   help="first print the newest N audited events of these prefixes")
    p.set_defaults(func=run)


def printable(text: str) -> str:
    """``text`` with every control, format, surrogate or unassigned character escaped."""
    if text.isprintable():
        return text
    # isprintable() is False exactly for categories C* (control, format, ...) and Z* but space
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def summarize(payload: dict[str, Any]) -> str:
    parts = []
    for key in SUMMARY_KEYS:
        if key in payload:
            value = payload[key]
            if key == "reasons":
                continue
            parts.append(f"{key}={value}")
    reasons = payload.get("reasons")
    if isinstance(reasons, list) and reasons:
        first = reasons[0]
        parts.append(f"reasons={first.get('rule') if isinstance(first, dict) else first}"
                     + (f"+{len(reasons) - 1}" if len(reasons) > 1 else ""))
    return " ".join(parts)[:160]


def render(topic: bytes, frames: list[bytes], as_json: bool,
           correlation: CorrelationFilter | None) -> str | None:
    """One output line for a message, or None when it is filtered out."""
    try:
        if len(frames) not in (2, 3):  # [topic, body, auth]: sniff shows, it does not verify
            raise EnvelopeError(f"{len(frames)} frames, expected 3", "frames")
        env = codec.decode(frames[1])
    except EnvelopeError as exc:
        if correlation is not None:
            return None
        text = topic.decode("utf-8", "replace")
        if as_json:
            return json.dumps({"topic": text, "undecodable": str(exc),
                               "bytes": sum(len(f) for f in frames)})
        return printable(f"{time.strftime('%H:%M:%S')} {text} UNDECODABLE: {exc}")
    if not _of_trade(env, correlation):
        return None
    return _line(topic, env, as_json)


def _line(topic: bytes, env: Envelope, as_json: bool, recent: bool = False) -> str:
    if as_json:
        extra = {"from_audit_log": True} if recent else {}
        return json.dumps({**env.to_dict(), "topic": topic.decode(), **extra}, default=str)
    mark = " (audit log)" if recent else ""
    return printable(f"{env.timestamp[11:26]} {topic.decode('utf-8', 'replace'):<28} "
                     f"{env.source:<15} {env.correlation_id[:12]:<12} "
                     f"{summarize(env.payload)}{mark}")


def _of_trade(env: Envelope, correlation: CorrelationFilter | None) -> bool:
    """Whether ``env`` is shown under ``--correlation`` (the id, or a prefix of it: the 12
    characters a line shows; the exact id wins, as in ``hope trace``)."""
    return correlation is None or correlation.admits(env.correlation_id)


def recent_lines(state: Any, prefixes: list[str], n: int, as_json: bool,
                 correlation: CorrelationFilter | None) -> tuple[list[str], set[str]]:
    """The newest ``n`` audited events matching ``prefixes``, oldest first, as output lines
    (marked as coming from the audit log), and their event ids.

    Why: a watcher started a few seconds after the system misses what happened at its start;
    the audit log still has it.
    """
    from hope.audit.reader import open_reader

    reader = open_reader(state)
    wanted = prefixes or [""]
    types = {p.split(".", 1)[0] for p in wanted if p} or None
    # Market data is by far the largest family: read it only when asked for by name.
    families = ({family_for(t) for t in types} if types is not None
                else set(reader.families()) - {family_for("PRICE")})
    found: list[tuple[str, Envelope]] = []
    for family in sorted(families & set(reader.families())):
        for rec in reader.records(family):
            if types is not None and rec.get("event_type") not in types:
                continue
            try:
                env = msgspec.convert({k: rec[k] for k in _ENVELOPE_FIELDS if k in rec},
                                      Envelope)
            except (msgspec.ValidationError, TypeError):
                continue
            if any(env.topic.startswith(p) for p in wanted):
                found.append((env.timestamp, env))
    found.sort(key=lambda item: item[0])
    newest = [env for _, env in found[-n:]] if n > 0 else []
    if correlation is not None:  # all of them first: the exact id wins throughout
        for env in newest:
            correlation.see(env.correlation_id)
    lines, ids = [], set()
    for env in newest:
        if not _of_trade(env, correlation):
            continue
        ids.add(env.event_id)
        lines.append(_line(env.topic.encode(), env, as_json, recent=True))
    return lines, ids


def _seen(frames: list[bytes], already: set[str]) -> bool:
    """Whether a live event was printed from the audit log already (forgotten once matched)."""
    try:
        event_id = codec.decode(frames[1]).event_id if len(frames) in (2, 3) else None
    except EnvelopeError:
        return False
    if event_id in already:
        already.discard(event_id)
        return True
    return False


def run(args: argparse.Namespace) -> int:
    from hope.cli import load_config

    config = load_config(args)
    _, xpub = proxy_endpoints(config)[0]  # one proxy: with several, each shows every event
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    configure(sock, config, OPERATOR, xpub, proxy=proxy_principals(config)[0])
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 1_000_000)
    for prefix in args.prefixes or [""]:
        sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    sock.connect(xpub)
    correlation = CorrelationFilter(args.correlation) if args.correlation else None
    # Ctrl-C is how a watcher stops watching, from the moment it says it is watching (while the
    # recent events are still being read too): exit status 0, not a failure.
    try:
        print(f"hope sniff: watching {xpub} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        already: set[str] = set()
        if args.recent > 0 and not args.stats:
            # Subscribed first, then read: an event audited meanwhile is shown once, not missed.
            lines, already = recent_lines(config.state, args.prefixes, args.recent, args.json,
                                          correlation)
            for line in lines:
                print(line, flush=True)
        return _watch(sock, args, xpub, already, correlation)
    except KeyboardInterrupt:
        return 0
    except AmbiguousPrefix as exc:
        print(f"hope sniff: {exc}", file=sys.stderr)
        return 2
    finally:
        sock.close()
        ctx.term()


def _watch(sock: zmq.Socket, args: argparse.Namespace, xpub: str, already: set[str],
           correlation: CorrelationFilter | None) -> int:
    """Print (or count, with ``--stats``) events until ``--count``, ``--timeout`` or Ctrl-C."""
    shown, rates, last_report = 0, Counter(), time.monotonic()
    last_message = time.monotonic()
    while True:
        if not sock.poll(200):
            if args.timeout and time.monotonic() - last_message > args.timeout:
                print(f"hope sniff: no events for {args.timeout:g}s at {xpub}", file=sys.stderr)
                return 1
        else:
            frames = sock.recv_multipart()
            last_message = time.monotonic()
            topic = frames[0]
            if topic.startswith(INTERNAL):
                continue
            if args.stats:
                rates[topic.split(b".", 1)[0].decode("utf-8", "replace")] += 1
            else:
                if already and _seen(frames, already):
                    continue
                line = render(topic, frames, args.json, correlation)
                if line is None:
                    continue
                print(line, flush=True)
                shown += 1
                if args.count and shown >= args.count:
                    return 0
        if args.stats and time.monotonic() - last_report >= 1.0:
            elapsed = time.monotonic() - last_report
            line = " ".join(f"{k}={v / elapsed:.0f}/s" for k, v in sorted(rates.items()))
            print(printable(f"{time.strftime('%H:%M:%S')} {line or 'no events'}"), flush=True)
            rates.clear()
            last_report = time.monotonic()
