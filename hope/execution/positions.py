"""Open positions and the executor's order ledger, persisted together in one atomic snapshot.

``<state>/positions/executor.json`` = ``{"orders": {client_id: record}, "positions": {order_id:
position}}``. One file, so a crash never leaves a position without its ledger entry or the
reverse. The ledger record is how the executor makes one decision one order: the intent (the
decision envelope) is saved before the exchange is called, and every event it publishes is saved
after, so a restart resumes exactly where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hope.execution.exchange import Order
from hope.files import atomic_write_json

TAKE_PROFIT, STOP_LOSS, TIMEOUT, FLATTEN = "take_profit", "stop_loss", "timeout", "flatten"


@dataclass
class Position:
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
    fill_env: dict[str, Any]     # the FILL envelope: parent of the CLOSE
    closing: dict[str, Any] | None = None   # {"reason", "market_ts"} once a close has begun


class ExecutorStore:
    """Order ledger + positions; ``save()`` writes both atomically (temp → fsync → rename)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / "executor.json"
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, Position] = {}
        self.load_error: str | None = None
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # Refuse to guess: an unreadable ledger could double orders. The service halts on this.
            self.load_error = f"{self.path}: unreadable ({exc})"
            return
        self.orders = dict(data.get("orders", {}))
        for oid, raw in data.get("positions", {}).items():
            try:
                self.positions[oid] = Position(**raw)
            except TypeError as exc:
                self.load_error = f"{self.path}: position {oid}: {exc}"

    def save(self) -> None:
        atomic_write_json(self.path, {
            "orders": self.orders,
            "positions": {k: asdict(p) for k, p in self.positions.items()},
        })


class PositionManager:
    """Decides when a position closes (take-profit, stop-loss, timeout on the market clock)."""

    def __init__(self, store: ExecutorStore) -> None:
        self.store = store

    def open_positions(self) -> list[Position]:
        return list(self.store.positions.values())

    def open(self, fill: Order, targets: dict[str, Any], fill_env: dict[str, Any]) -> Position:
        """A position from a BUY fill; take-profit and stop-loss are relative to the fill price."""
        entry = fill.avg_price
        tp_pct = targets.get("take_profit_pct")
        sl_pct = targets.get("stop_loss_pct")
        tp = entry * (1 + tp_pct / 100) if tp_pct is not None else float(targets["take_profit"])
        sl = entry * (1 - sl_pct / 100) if sl_pct is not None else float(targets["stop_loss"])
        pos = Position(order_id=fill.client_id, symbol=fill.symbol, quote=fill.commission_asset,
                       quantity=fill.quantity, entry_price=entry, entry_fee=fill.commission,
                       opened_market_ts=fill.market_ts, take_profit=tp, stop_loss=sl,
                       timeout_s=float(targets.get("timeout_s", 0)) or 1e18, fill_env=fill_env)
        self.store.positions[pos.order_id] = pos
        return pos

    @staticmethod
    def exit_reason(pos: Position, price: float | None, market_now: float | None) -> str | None:
        """Why ``pos`` should close now, or None. Price targets first, then the market-clock timeout."""
        if price is not None and price >= pos.take_profit:
            return TAKE_PROFIT
        if price is not None and price <= pos.stop_loss:
            return STOP_LOSS
        if market_now is not None and market_now - pos.opened_market_ts >= pos.timeout_s:
            return TIMEOUT
        return None

    @staticmethod
    def close_payload(pos: Position, sell: Order, reason: str) -> dict[str, Any]:
        """CLOSE per CONVENTIONS: pnl is net of both fees, all in the quote currency."""
        fees = pos.entry_fee + sell.commission
        pnl = sell.quantity * sell.avg_price - pos.quantity * pos.entry_price - fees
        return {
            "order_id": pos.order_id, "symbol": pos.symbol, "entry_price": pos.entry_price,
            "exit_price": sell.avg_price, "quantity": pos.quantity, "pnl": pnl, "fees": fees,
            "reason": reason, "holding_s": max(0.0, sell.market_ts - pos.opened_market_ts),
            "quote": pos.quote, "market_ts": sell.market_ts, "close_order_id": sell.client_id,
        }
