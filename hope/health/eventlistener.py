"""supervisord ``[eventlistener]``: puts process exits, backoffs and FATAL states on the bus.

Protocol (supervisord docs, "Event Listener Protocol"): write ``READY\\n``; read one header line
of ``key:value`` tokens whose ``len`` says how many payload bytes follow; read them; answer
``RESULT 2\\nOK`` (or ``RESULT 4\\nFAIL`` so supervisord sends the event again later); repeat.
stdout belongs to the protocol: every log line goes to stderr.

Example supervisord section::

    [eventlistener:hope-events]
    command=python -m hope.health.eventlistener --state-dir %(here)s/state
    events=PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL
    buffer_size=1024
    stderr_logfile=%(here)s/state/logs/eventlistener.log
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

SOURCE = "health-listener"  # the principal it signs as; a cluster host's: ``--name``
OK = b"RESULT 2\nOK"
FAIL = b"RESULT 4\nFAIL"
_STATUS = {"PROCESS_STATE_EXITED": "DOWN", "PROCESS_STATE_BACKOFF": "DOWN",
           "PROCESS_STATE_FATAL": "FATAL"}


class ProtocolError(ValueError):
    """supervisord sent something that is not the eventlistener protocol."""


def parse_tokens(line: str) -> dict[str, str]:
    """``a:1 b:2`` -> {"a": "1", "b": "2"}; raise ProtocolError naming a bad token."""
    out = {}
    for token in line.split():
        key, sep, value = token.partition(":")
        if not sep or not key:
            raise ProtocolError(f"bad token {token!r} in {line!r}")
        out[key] = value
    return out


def parse_header(line: bytes) -> tuple[dict[str, str], int]:
    """The header tokens and the payload length."""
    try:
        tokens = parse_tokens(line.decode("utf-8").strip())
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"header is not UTF-8 ({exc})") from None
    try:
        length = int(tokens["len"])
    except (KeyError, ValueError):
        raise ProtocolError(f"header without a valid len: {line!r}") from None
    if length < 0:
        raise ProtocolError(f"negative len in header {line!r}")
    return tokens, length


def parse_payload(body: bytes) -> tuple[dict[str, str], str]:
    """Payload tokens (first line) and any data after the first newline."""
    text = body.decode("utf-8", "replace")
    first, _, data = text.partition("\n")
    return parse_tokens(first), data


def to_health(eventname: str, tokens: Mapping[str, str]) -> dict[str, Any] | None:
    """The HEALTH payload for a process state event, or None for events we do not report.
    An EXITED with ``expected:1`` (a clean, configured exit) is not reported."""
    status = _STATUS.get(eventname)
    if status is None:
        return None
    if eventname == "PROCESS_STATE_EXITED" and tokens.get("expected") == "1":
        return None
    state = eventname.removeprefix("PROCESS_STATE_")
    name, group = tokens.get("processname", "?"), tokens.get("groupname", "")
    detail = f"supervisord: {state} (from {tokens.get('from_state', '?')}"
    if "pid" in tokens:
        detail += f", pid {tokens['pid']}"
    if "tries" in tokens:
        detail += f", tries {tokens['tries']}"
    detail += ")"
    payload: dict[str, Any] = {"service": name, "status": status, "detail": detail,
                               "process_state": state, "group": group,
                               "from_state": tokens.get("from_state", "")}
    if tokens.get("pid", "").isdigit():
        payload["pid"] = int(tokens["pid"])
    return payload


def log(msg: str) -> None:
    print(f"hope-eventlistener: {msg}", file=sys.stderr, flush=True)


def serve(stdin: BinaryIO, stdout: BinaryIO,
          publish: Callable[[dict[str, Any]], None], max_events: int | None = None,
          fail_pause_s: float = 1.0) -> int:
    """Run the protocol loop until stdin closes (or ``max_events`` handled); returns the count.
    After a failed publish it pauses ``fail_pause_s`` so a bus outage is not a hot resend loop."""
    handled = 0
    while max_events is None or handled < max_events:
        stdout.write(b"READY\n")
        stdout.flush()
        line = stdin.readline()
        if not line:
            return handled
        try:
            header, length = parse_header(line)
        except ProtocolError as exc:
            # We cannot know where the next header starts; answering FAIL keeps us in sync
            # with supervisord's state machine, which expects exactly one result per READY.
            log(f"protocol error: {exc}")
            stdout.write(FAIL)
            stdout.flush()
            handled += 1
            continue
        body = stdin.read(length)
        result = OK
        try:
            tokens, _ = parse_payload(body)
            payload = to_health(header.get("eventname", ""), tokens)
            if payload is not None:
                publish(payload)
        except ProtocolError as exc:
            log(f"bad payload for {header.get('eventname')}: {exc}")
        except Exception as exc:  # bus down: FAIL makes supervisord send the event again
            log(f"publish failed ({type(exc).__name__}: {exc}); asking for a resend")
            result = FAIL
            time.sleep(fail_pause_s)
        stdout.write(result)
        stdout.flush()
        handled += 1
    return handled


def main(argv: list[str] | None = None, publisher: Callable[..., Any] | None = None,
         stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Entry point: ``python -m hope.health.eventlistener [--config F] [--state-dir D]
    [--name PRINCIPAL]``. ``publisher(name, config)`` makes the bus client (default
    :class:`hope.bus.background.BackgroundPublisher`); ``stdin``/``stdout`` default to the
    process's, supervisord's protocol pipes."""
    import argparse

    from hope.config import ConfigError, load
    from hope.principals import PrincipalError, check_name

    parser = argparse.ArgumentParser(prog="hope-eventlistener")
    parser.add_argument("--config")
    parser.add_argument("--state-dir")
    parser.add_argument("--name", default=SOURCE,
                        help="the principal it signs as (a cluster host's health-listener-<n>)")
    args = parser.parse_args(argv)
    try:
        config = load(args.config, args.state_dir)
    except ConfigError as exc:
        log(f"refusing to start: bad config: {exc}")
        return 78
    try:
        check_name(args.name)
    except PrincipalError as exc:
        log(f"refusing to start: --name: {exc}")
        return 78
    # A long-lived bus client beside this blocking protocol loop: it answers replay requests, so
    # a HEALTH event the (possibly dead) audit writer missed is recovered, not lost.
    if publisher is None:
        from hope.bus.background import BackgroundPublisher as publisher
    bus = publisher(args.name, config)
    bus.start()

    def publish(payload: dict[str, Any]) -> None:
        env = bus.publish("HEALTH", payload)
        log(f"published HEALTH {payload['service']} {payload['status']} (seq {env.seq}): "
            f"{payload['detail']}")

    log(f"started as {args.name}")
    try:
        serve(stdin or sys.stdin.buffer, stdout or sys.stdout.buffer, publish)
    finally:
        bus.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
