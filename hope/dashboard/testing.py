"""Test helpers for the dashboard, shipped in the package: a whole trade as real envelopes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from hope.envelope import Envelope, new_event

T0 = 1610658000.0  # market clock: the NAS/BTC pump
# wall clock: a minute ago, so the bus's timestamp window accepts these events
WALL0 = float(int(time.time()) - 60)


def ts(offset_ms: float) -> str:
    """An envelope timestamp ``offset_ms`` after :data:`WALL0`."""
    return datetime.fromtimestamp(WALL0 + offset_ms / 1e3, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def trade(symbol: str = "NASBTC", pnl: float = 0.00001,
          reason: str = "take_profit") -> list[Envelope]:
    """SIGNAL -> DECISION BUY -> ORDER NEW -> FILL -> CLOSE, 2/1/3/.. ms apart."""
    sig = new_event("SIGNAL", {"symbol": symbol, "strategy": "pump", "price": 0.0000152,
                               "market_ts": T0, "buys_per_sec": 30.0, "delta_pct": 12.0},
                    source="scanner", timestamp=ts(0))
    dec = new_event("DECISION", {"symbol": symbol, "action": "BUY", "confidence": 0.9,
                                 "reasons": [], "position_size": 0.001, "quote": "BTC",
                                 "targets": {}, "config_hash": "x", "market_ts": T0,
                                 "price": 0.0000152}, source="decision-engine", parent=sig,
                    timestamp=ts(2))
    order = new_event("ORDER", {"symbol": symbol, "order_id": "hope-1", "status": "NEW",
                                "quantity": 65.0, "side": "BUY"}, source="executor",
                      parent=dec, timestamp=ts(3))
    fill = new_event("FILL", {"symbol": symbol, "order_id": "hope-1", "filled_qty": 65.0,
                              "avg_price": 0.0000153, "commission": 0.000001,
                              "commission_asset": "BTC", "side": "BUY", "market_ts": T0 + 0.1},
                     source="executor", parent=order, timestamp=ts(6))
    close = new_event("CLOSE", {"symbol": symbol, "order_id": "hope-1", "entry_price": 0.0000153,
                                "exit_price": 0.0000161, "quantity": 65.0, "pnl": pnl,
                                "fees": 0.000002, "reason": reason, "holding_s": 12.0,
                                "quote": "BTC", "market_ts": T0 + 12}, source="executor",
                      parent=fill, timestamp=ts(900))
    return [sig, dec, order, fill, close]
