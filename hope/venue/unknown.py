"""Resolving an order of unknown outcome: query by ``origClientOrderId``, never resubmit.

:func:`resolve` turns one query answer into what the executor does next. ``-2013``
NO_SUCH_ORDER (``answer`` None) is tolerated for ``grace_s`` on the wall clock after the send,
because the venue may show an order only later under load; after that the order is taken not to
exist (ORDER REJECTED). Found: FILLED (or ended with a partial fill) becomes ORDER NEW with its
fills; still working waits; ended with nothing traded is REJECTED with the venue's status.
"""

from __future__ import annotations

from dataclasses import dataclass

from hope.venue.orders import FILLED, VenueOrder

FOUND, WAIT, GONE = "found", "wait", "gone"


@dataclass(frozen=True)
class Resolution:
    kind: str           # FOUND (NEW + fills) | WAIT (ask again later) | GONE (REJECTED)
    reason: str = ""
    order: VenueOrder | None = None


def resolve(answer: VenueOrder | None, *, sent_wall: float, now_wall: float,
            grace_s: float) -> Resolution:
    """What one ``GET /api/v3/order?origClientOrderId=`` answer means (None: -2013)."""
    if answer is None:
        waited = now_wall - sent_wall
        if waited < grace_s:
            return Resolution(WAIT, f"not found yet ({waited:.1f}s of {grace_s:g}s grace)")
        return Resolution(GONE, f"not found at the venue (-2013) {waited:.0f}s after sending "
                                f"(grace {grace_s:g}s)")
    if answer.ended_empty:
        return Resolution(GONE, f"venue status {answer.status}, nothing executed "
                                f"(venue order {answer.order_id})", answer)
    if answer.status == FILLED or (answer.executed_qty > 0 and not answer.working):
        return Resolution(FOUND, f"venue status {answer.status}", answer)
    return Resolution(WAIT, f"venue status {answer.status}: still working", answer)
