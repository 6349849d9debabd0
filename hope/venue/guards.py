"""What stops the venue adapter from sending, in one answer, and what it reports about itself.

:func:`breaker_reason` asks each guard in turn (the clock offset, the rate budget's IP ban) and
returns the first reason the executor's venue breaker must stay open for, or None; the
executor puts it in its BREAKER event and every SKIP. :func:`heartbeat_table` is the
executor heartbeat's ``venue`` table that ``hope.health.venue_metrics`` turns into
``hope_venue_*`` metrics. The ALERT names below are the ones the runbook documents.
"""

from __future__ import annotations

from typing import Any, Protocol

ALERT_RATE_LIMITED = "venue_rate_limited"     # 429: backing off per Retry-After
ALERT_BANNED = "venue_banned"                 # 418: breaker open until the ban expires
ALERT_CLOCK = "venue_clock_offset"            # offset beyond the threshold, or unknown
ALERT_USER_STREAM = "venue_user_stream_down"  # no subscription for longer than allowed
ALERT_STOP = "protective_stop"                # a stop refused, lost or ended by the venue


class Guard(Protocol):
    def breaker_reason(self) -> str | None: ...


class Reporter(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


def breaker_reason(*guards: Guard | None) -> str | None:
    """The first reason a guard gives to keep the breaker open, or None (all clear)."""
    for guard in guards:
        if guard is not None and (reason := guard.breaker_reason()):
            return reason
    return None


def heartbeat_table(**parts: Reporter | None) -> dict[str, Any]:
    """``{"clock": {...}, "budget": {...}, "fills": {...}, "user_stream": {...}}`` for the parts
    given (``clock=``, ``budget=``, ``fills=``, ``user_stream=``)."""
    return {name: part.snapshot() for name, part in parts.items() if part is not None}
