"""The venue breaker: no order leaves while HOPE is reconciling or reconciliation failed.

Separate from the operator's trading state (a supervisord restart needs no human) and from the
exchange's failure breaker. States, as BREAKER events name them (``name = "venue"``):
``reconciling`` (at every start and during each periodic reconciliation), ``closed``
(reconciliation passed), ``open`` (it failed: ``reason`` says why). It starts ``reconciling``.
"""

from __future__ import annotations

from collections.abc import Callable

RECONCILING, CLOSED, OPEN = "reconciling", "closed", "open"


class VenueGate:
    name = "venue"

    def __init__(self, on_change: Callable[[str, str, str], None] | None = None) -> None:
        self.state = RECONCILING
        self.reason = "not reconciled yet"
        self.on_change = on_change

    def set(self, state: str, reason: str = "") -> None:
        old, self.state, self.reason = self.state, state, reason
        if self.on_change is not None and old != state:
            self.on_change(self.name, old, state)

    def allows(self) -> bool:
        return self.state == CLOSED

    def refusal(self) -> str:
        """The reason an order may not leave now (an ORDER REJECTED or a SKIP says it)."""
        if self.state == RECONCILING:
            return f"venue breaker reconciling: {self.reason}"
        return f"venue breaker open: {self.reason}"
