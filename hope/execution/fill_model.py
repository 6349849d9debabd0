"""The paper fill model, one place for every simulated venue: a taker fill at the last trade
price moved against the taker by ``slippage_bps``, a taker fee of ``commission_bps`` on the
notional. Used by :class:`hope.execution.exchange.PaperExchange` and the stand-in exchange."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FillModel:
    slippage_bps: float = 5.0
    commission_bps: float = 10.0

    def fill_price(self, price: float, side: str) -> float:
        """The taker's price: above the last trade for a BUY, below it for a SELL."""
        slip = self.slippage_bps / 1e4
        return price * (1 + slip) if side == "BUY" else price * (1 - slip)

    def commission(self, notional: float) -> float:
        """The taker fee on ``notional`` (in the asset the notional is counted in)."""
        return notional * self.commission_bps / 1e4
