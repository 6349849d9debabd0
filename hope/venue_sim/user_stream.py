"""User Data Stream events in the venue's JSON (user-data-stream.md), built from the books'
order and trade records; each is sent wrapped as ``{"subscriptionId": N, "event": {...}}``.

- ``executionReport`` on every order change: ``x`` (execution type) NEW, TRADE, CANCELED,
  EXPIRED; ``X`` the order status; on a TRADE ``l``/``L``/``n``/``N``/``t``/``Y`` describe the
  fill, ``z``/``Z`` the order's totals; ``C`` is the cancelled order's client id on a cancel
  (``c`` then the cancel's own id), empty otherwise.
- ``outboundAccountPosition`` after each change of balances (the assets the order touches).
"""

from __future__ import annotations

from typing import Any

from hope.venue_sim.accounts import Account
from hope.venue_sim.exchange_info import split_symbol
from hope.venue_sim.filters import ZERO, fmt8
from hope.venue_sim.orders import VenueOrder, VenueTrade


def execution_report(order: VenueOrder, trade: VenueTrade | None, exec_type: str,
                     event_ms: int, execution_id: int) -> dict[str, Any]:
    cancelled = exec_type == "CANCELED"
    report = {
        "e": "executionReport", "E": event_ms, "s": order.symbol,
        "c": order.cancel_client_id if cancelled else order.client_order_id,
        "S": order.side, "o": order.type, "f": order.time_in_force,
        "q": fmt8(order.orig_qty), "p": fmt8(order.price), "P": fmt8(order.stop_price),
        "F": fmt8(ZERO), "g": -1, "C": order.client_order_id if cancelled else "",
        "x": exec_type, "X": order.status, "r": "NONE", "i": order.order_id,
        "l": fmt8(trade.qty if trade else ZERO), "z": fmt8(order.executed_qty),
        "L": fmt8(trade.price if trade else ZERO),
        "n": fmt8(trade.commission) if trade else "0",
        "N": trade.commission_asset if trade else None,
        "T": trade.time_ms if trade else order.update_ms, "t": trade.id if trade else -1,
        "I": execution_id, "w": order.is_open and order.working,
        "m": bool(trade and trade.is_maker), "M": False, "O": order.time_ms,
        "Z": fmt8(order.cumm_quote), "Y": fmt8(trade.quote_qty if trade else ZERO),
        "Q": fmt8(order.orig_quote_qty), "W": order.time_ms, "V": "NONE",
    }
    if exec_type == "EXPIRED" and order.expiry_reason:
        report["eR"] = order.expiry_reason          # a conditional field: expired orders only
    return report


def account_position(account: Account, symbol: str, event_ms: int) -> dict[str, Any]:
    assets = split_symbol(symbol)
    rows = [r for r in account.rows() if r["asset"] in assets]
    return {"e": "outboundAccountPosition", "E": event_ms, "u": account.update_ms or event_ms,
            "B": [{"a": r["asset"], "f": r["free"], "l": r["locked"]} for r in rows]}


def wrap(subscription_id: int, event: dict[str, Any]) -> dict[str, Any]:
    return {"subscriptionId": subscription_id, "event": event}
