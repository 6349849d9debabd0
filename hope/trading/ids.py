"""Client order ids: derived from the DECISION, so a redelivered decision names the same order."""

from __future__ import annotations


def client_order_id(decision_event_id: str) -> str:
    """The client order id of a BUY: derived from the decision, so one decision = one order."""
    return "hope-" + decision_event_id.removeprefix("sha256:")


def close_order_id(order_id: str) -> str:
    """The client order id of the sell that closes the position opened by ``order_id``."""
    return order_id + "-x"


def stop_order_id(order_id: str, generation: int = 1) -> str:
    """The client order id of the exchange-side protective stop of the position ``order_id``
    opened; a replacement stop gets the next ``generation`` (a new id, never a resubmission)."""
    return f"{order_id}-s{generation}"
