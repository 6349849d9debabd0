"""The executor's ledger records and positions as typed msgspec Structs, in the ledger's JSON.

The on-disk shape is plain JSON objects (``null`` where an optional part is absent), the same as
untyped ledgers, so older files load and older code reads newer files:

- :class:`PendingOrder` ``{"decision": <DECISION envelope>, "attempted": bool, "done": false,
  "refusal": null | {...}, "order_env": null | <ORDER envelope>}``: a BUY being worked on;
- :class:`FinishedOrder` ``{"done": true, "status": "NEW" | "REJECTED" | "EXPIRED" |
  "QUARANTINED", "order_event_id": str | null, "t": market_ts | null}``: what dedupe needs;
- :class:`Position` with its :class:`Closing` once a close has begun;
- :class:`Snapshot` (``executor.json``) and :class:`QuarantinedRecord`, a record set apart.

JSON has no tag for the two record kinds: ``done`` tells them apart (:func:`decode_order`). A
value of the wrong shape raises :class:`RecordError` naming what is wrong; the store quarantines
it instead of failing to start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from hope.envelope import Envelope

QUARANTINED = "QUARANTINED"  # a FinishedOrder standing in for a record that could not be read


class RecordError(ValueError):
    """A ledger value that does not decode to its type; the message names the field."""


class Refusal(msgspec.Struct):
    """Why a BUY was not placed, with the wall time fixed before its ORDER is published (a
    republish after a crash then carries the same event id)."""

    status: str        # "REJECTED" | "EXPIRED"
    reason: str
    timestamp: str     # envelope format


class PendingOrder(msgspec.Struct, kw_only=True):
    """A BUY decision being turned into one order: saved before the venue is called."""

    decision: Envelope                 # the DECISION without its reasons
    attempted: bool = False            # the venue may know this client id: ask before placing
    done: bool = False                 # always False (tells the kinds apart on disk)
    refusal: Refusal | None = None     # decided not to place: publish this ORDER
    order_env: Envelope | None = None  # the ORDER NEW published (its FILL may still be due)
    # live venue only: the wall time it was sent (the -2013 grace runs from it), the ORDER
    # UNKNOWN (its timestamp fixed before publishing) and whether it went out, and the venue's
    # time of the order (the ORDER NEW's timestamp, fixed before publishing)
    sent_wall: float | None = None
    unknown: Refusal | None = None
    unknown_published: bool = False
    venue_ts: str | None = None
    venue_order_id: int | None = None  # the venue's id once known (also of one it refused)
    not_found: bool = False            # REJECTED because -2013 outlasted the grace: re-checked


class FinishedOrder(msgspec.Struct, kw_only=True):
    """A BUY fully handled: only what dedupe and pruning need."""

    done: bool = True                  # always True
    status: str                        # the ORDER's status, or QUARANTINED
    order_event_id: str | None         # the ORDER published (None for QUARANTINED)
    t: float | None = None             # prune key: market time it may be forgotten after


LedgerRecord = PendingOrder | FinishedOrder


class Closing(msgspec.Struct):
    """A close has begun: the SELL (client id ``<order_id>-x``) may exist at the venue."""

    reason: str                        # take_profit | stop_loss | timeout | flatten
    attempted: bool = True             # the SELL was sent: ask the venue before sending again


class ExitAttempt(msgspec.Struct, kw_only=True):
    """Live venue: the exit SELL in flight (beside ``Position.closing``)."""

    sent_wall: float                   # wall time of the send (the -2013 grace runs from it)
    market_ts: float                   # market clock at the send: the CLOSE's (fixed)
    unknown: str | None = None         # why its outcome is unknown, once it is
    venue_ts: str | None = None        # the SELL's venue time, fixed before the CLOSE is sent


class Position(msgspec.Struct, kw_only=True):
    order_id: str
    symbol: str
    quote: str
    quantity: float
    entry_price: float
    entry_fee: float             # quote currency
    opened_market_ts: float
    take_profit: float           # price level
    stop_loss: float             # price level
    timeout_s: float             # market clock
    fill_env: Envelope           # the FILL envelope: parent of the CLOSE
    closing: Closing | None = None
    base: str = ""               # live venue: the base asset (balances are compared in it)
    venue_order_id: int | None = None   # live venue: the BUY's order id there
    trade_ids: list[int] = []    # live venue: the BUY's trade ids
    exit: ExitAttempt | None = None  # live venue: the exit SELL sent (None: none in flight)


class Snapshot(msgspec.Struct):
    """``executor.json``; its records stay raw here and are typed one by one, so one bad record
    is set apart instead of failing the whole snapshot."""

    gen: int = 0
    pruned_before: float | None = None
    orders: dict[str, Any] = {}
    positions: dict[str, Any] = {}


SNAPSHOT = msgspec.json.Decoder(Snapshot)


@dataclass
class QuarantinedRecord:
    """A record that did not decode to its type: set apart at load, reported by the executor."""

    kind: str                    # "order" | "position"
    key: str                     # client order id / position order id
    error: str
    where: str                   # file (and journal line)
    raw: Any = None
    known: dict[str, Any] = field(default_factory=dict)  # what could still be read of it

    def alert(self) -> dict[str, Any]:
        return {"kind": "ledger_record_quarantined", "record": self.kind, "key": self.key,
                "error": self.error, "where": self.where, **self.known}


def decode_order(raw: Any) -> LedgerRecord:
    """A ledger record from its JSON value (a dict), typed by its ``done`` flag."""
    if not isinstance(raw, dict):
        raise RecordError(f"ledger record: expected an object, got {type(raw).__name__}")
    kind = FinishedOrder if raw.get("done") is True else PendingOrder
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise RecordError(f"{kind.__name__}: {exc}") from None


def decode_position(raw: Any) -> Position:
    try:
        return msgspec.convert(raw, Position)
    except msgspec.ValidationError as exc:
        raise RecordError(f"Position: {exc}") from None


def describe(raw: Any) -> dict[str, Any]:
    """What can be told about an unreadable record (symbol, quantity, ...), for the ALERT."""
    if not isinstance(raw, dict):
        return {}
    out = {k: raw[k] for k in ("symbol", "quantity", "entry_price", "status")
           if isinstance(raw.get(k), str | int | float) and not isinstance(raw.get(k), bool)}
    decision = raw.get("decision")
    payload = decision.get("payload") if isinstance(decision, dict) else None
    if isinstance(payload, dict):
        out.update({k: payload[k] for k in ("symbol", "position_size")
                    if isinstance(payload.get(k), str | int | float)})
    return out
