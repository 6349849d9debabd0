"""The venue's order and trade records, parsed from its JSON (amounts as ``Decimal``).

One shape for the three ways an order is learnt: the FULL reply to ``POST /api/v3/order``
(fills inline), ``GET /api/v3/order`` (no fills: they come from ``/myTrades?orderId=``), and
``/openOrders``. Client order ids are HOPE's own (:data:`CLIENT_ID_RE` is the venue's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hope.envelope import utc_timestamp

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
HOPE_PREFIX = "hope-"
FILLED = "FILLED"
WORKING = frozenset({"NEW", "PENDING_NEW", "PARTIALLY_FILLED", "PENDING_CANCEL"})
# Terminal without (necessarily) a fill: EXPIRED (a MARKET order that found too little
# liquidity; maybe partly filled) and EXPIRED_IN_MATCH (self-trade prevention) are the venue's
# own outcomes, not HOPE's ORDER EXPIRED (a decision too old to act on).
ENDED = frozenset({"CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"})


def check_client_id(client_id: str) -> str:
    """``client_id`` if the venue accepts it (<= 36 chars of ``[.A-Z:/a-z0-9_-]``)."""
    if not CLIENT_ID_RE.match(client_id):
        raise ValueError(f"client order id {client_id!r} does not match {CLIENT_ID_RE.pattern}")
    return client_id


def _d(raw: dict[str, Any], key: str) -> Decimal:
    value = raw.get(key)
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


@dataclass(frozen=True)
class VenueFill:
    trade_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> VenueFill:
        """From a FULL reply's ``fills[]`` entry or a ``/myTrades`` row."""
        return cls(trade_id=int(raw["tradeId"] if "tradeId" in raw else raw["id"]),
                   price=_d(raw, "price"), qty=_d(raw, "qty"),
                   commission=_d(raw, "commission"),
                   commission_asset=str(raw.get("commissionAsset", "")))

    def as_payload(self) -> dict[str, Any]:
        return {"trade_id": self.trade_id, "price": float(self.price), "qty": float(self.qty),
                "commission": float(self.commission), "commission_asset": self.commission_asset}


@dataclass(frozen=True)
class VenueOrder:
    symbol: str
    client_id: str
    order_id: int
    side: str
    type: str
    status: str
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote: Decimal
    time_ms: int                      # transactTime (placement) or updateTime/time (query)
    fills: tuple[VenueFill, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> VenueOrder:
        time_ms = raw.get("transactTime") or raw.get("time") or raw.get("updateTime") or 0
        return cls(symbol=str(raw["symbol"]), client_id=str(raw.get("clientOrderId", "")),
                   order_id=int(raw["orderId"]), side=str(raw.get("side", "")),
                   type=str(raw.get("type", "")), status=str(raw.get("status", "")),
                   orig_qty=_d(raw, "origQty"), executed_qty=_d(raw, "executedQty"),
                   cum_quote=_d(raw, "cummulativeQuoteQty"), time_ms=int(time_ms),
                   fills=tuple(VenueFill.parse(f) for f in raw.get("fills") or ()))

    def with_fills(self, fills: list[VenueFill]) -> VenueOrder:
        return VenueOrder(**{**self.__dict__, "fills": tuple(fills)})

    @property
    def working(self) -> bool:
        return self.status in WORKING

    @property
    def ended_empty(self) -> bool:
        """Terminal and nothing traded: for HOPE it never happened (ORDER REJECTED)."""
        return self.status in ENDED and self.executed_qty <= 0

    @property
    def fills_complete(self) -> bool:
        """The fills known add up to what the venue says it executed."""
        return sum((f.qty for f in self.fills), Decimal(0)) >= self.executed_qty

    @property
    def avg_price(self) -> Decimal:
        if self.executed_qty > 0 and self.cum_quote > 0:
            return self.cum_quote / self.executed_qty
        qty = sum((f.qty for f in self.fills), Decimal(0))
        return sum((f.price * f.qty for f in self.fills), Decimal(0)) / qty if qty else Decimal(0)

    def commission_in(self, asset: str) -> Decimal:
        return sum((f.commission for f in self.fills if f.commission_asset == asset), Decimal(0))

    def fees_by_asset(self) -> dict[str, float]:
        out: dict[str, Decimal] = {}
        for f in self.fills:
            out[f.commission_asset] = out.get(f.commission_asset, Decimal(0)) + f.commission
        return {k: float(v) for k, v in out.items()}

    @property
    def created(self) -> str:
        """The venue's time as an envelope timestamp (fixed: a republish keeps its id)."""
        return utc_timestamp(datetime.fromtimestamp(self.time_ms / 1000, UTC))
