"""Refused input on the bus: short stable counter names, and the socket size bound.

Every bus client counts what it refuses per reason (``refusals`` in its heartbeat's ``bus``
stats; ``hope_refusals_total{service, reason}`` on ``/metrics``), so an attack shows up as a
rising named counter, not as a log line to grep for.
"""

from __future__ import annotations

from collections import Counter

import structlog

from hope.config import Config

log = structlog.get_logger("hope.bus")
MAXMSG_MARGIN = 64 << 10  # the topic frame and the envelope's own fields

_DECODE_NAMES = (("nested deeper", "too_deep"), ("64-bit", "int_range"),
                 ("exceeds the", "oversized"), ("A-Z 0-9", "bad_symbol"),
                 ("event_id", "bad_event_id"), ("without publisher", "no_seq"),
                 ("timestamp", "bad_timestamp"), ("in the future", "bad_timestamp"),
                 ("in the past", "bad_timestamp"), ("MessagePack", "malformed"),
                 ("frames", "malformed"))


def max_msg_size(config: Config) -> int:
    """ZMQ_MAXMSGSIZE of the bus sockets: a margin above ``[bus] max_message_bytes``, so libzmq
    drops an oversized sender's connection before a byte of the frame reaches Python; the
    codec refuses anything in between."""
    return config.bus.max_message_bytes + MAXMSG_MARGIN


def refusal_name(reason: str) -> str:
    """The counter name of a decode refusal (its reason text carries numbers and fields)."""
    for needle, name in _DECODE_NAMES:
        if needle in reason:
            return f"decode_{name}"
    return "decode_invalid"


def count_refusal(counts: Counter[str], service: str, reason: str, message: str,
                  **detail: object) -> None:
    """Count one refusal under ``reason``; log the first 20 and every 1000th."""
    counts[reason] += 1
    n = counts[reason]
    if n <= 20 or n % 1000 == 0:
        log.warning("input_refused", service=service, reason=reason, detail=message, count=n,
                    **detail)
