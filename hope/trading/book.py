"""How a BUY decision takes a position slot: one rule for the live engine, its rebuild and the
shadow engine's mirror of the live book.

A slot is taken the moment the BUY is decided, not when it fills, so two quick signals cannot both
squeeze under a limit while the first order is in flight; the slot is keyed by the order's client
id, which ORDER refusals and CLOSEs name when they free it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from hope.trading.ids import client_order_id


class PositionBook(Protocol):
    def record_buy(self, order_id: str, symbol: str, quote: str, size: float,
                   market_ts: float) -> None: ...


def apply_buy(book: PositionBook, decision_event_id: str, payload: Mapping[str, Any]) -> bool:
    """Record the BUY of a DECISION payload in ``book``; True when it took a slot.

    A SKIP takes none, and neither does a BUY without a numeric ``market_ts`` (the time its
    cooldown and order rate are counted from)."""
    market_ts = payload.get("market_ts")
    if payload.get("action") != "BUY" or isinstance(market_ts, bool) \
            or not isinstance(market_ts, int | float):
        return False
    book.record_buy(client_order_id(decision_event_id), str(payload.get("symbol", "?")),
                    str(payload.get("quote", "?")), float(payload.get("position_size", 0.0)),
                    float(market_ts))
    return True
