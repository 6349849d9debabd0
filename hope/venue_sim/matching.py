"""How much of an order the replayed market fills, and at what price (pure; no books).

The stand-in has trades, not an order book, so a taker order is matched against the market
as the paper model sees it (:class:`hope.execution.fill_model.FillModel`): the price is the
last published trade's, moved against the taker by the slippage; the liquidity on offer is the
base volume the market traded over the last ``liquidity_window_s`` market seconds times
``liquidity_factor`` (a window of 0: unlimited). What a MARKET order cannot fill is
``EXPIRED``, as on the venue. A resting LIMIT order fills (as maker, at its price) once a
published trade reaches its price; a stop, once a trade reaches its stop price, takes at that
trade's price (with slippage, bounded by its limit) when its limit allows, else rests.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from hope.execution.fill_model import FillModel
from hope.venue_sim.filters import floor_step
from hope.venue_sim.market import SymbolTape

EIGHT = Decimal("0.00000001")


@dataclass(frozen=True)
class MarketModel:
    fill: FillModel
    liquidity_window_s: float = 60.0
    liquidity_factor: float = 1.0


class Liquidity:
    """Base volume over a trailing market-time window, from per-tape prefix sums."""

    def __init__(self) -> None:
        self._sums: dict[str, list[float]] = {}

    def _prefix(self, tape: SymbolTape) -> list[float]:
        sums = self._sums.get(tape.symbol)
        if sums is None:
            sums = [0.0]
            for t in tape.trades:
                sums.append(sums[-1] + float(t.q))
            self._sums[tape.symbol] = sums
        return sums

    def volume(self, tape: SymbolTape, now: float, window_s: float) -> float:
        """Base volume of the published trades in the last ``window_s`` market seconds."""
        n = tape.published(now)
        if n == 0:
            return 0.0
        market_ts = tape._market_ts
        lo = bisect.bisect_left(market_ts, tape.market_now(now) - window_s, 0, n)
        sums = self._prefix(tape)
        return sums[n] - sums[lo]


def last_price(tape: SymbolTape, now: float) -> Decimal | None:
    n = tape.published(now)
    return Decimal(tape.trades[n - 1].p) if n else None


def taker_price(model: MarketModel, last: Decimal, side: str) -> Decimal:
    """The last price moved against the taker, to 8 decimals (up for a BUY, down for a SELL)."""
    price = Decimal(repr(model.fill.fill_price(float(last), side)))
    rounding = ROUND_UP if side == "BUY" else ROUND_DOWN
    return price.quantize(EIGHT, rounding=rounding)


def available(model: MarketModel, liquidity: Liquidity, tape: SymbolTape,
              now: float) -> Decimal | None:
    """Base quantity on offer now; None: unlimited."""
    if model.liquidity_window_s <= 0:
        return None
    volume = liquidity.volume(tape, now, model.liquidity_window_s) * model.liquidity_factor
    return Decimal(repr(volume)).quantize(EIGHT, rounding=ROUND_DOWN)


def fillable(wanted: Decimal, offer: Decimal | None, step: Decimal) -> Decimal:
    """How much of ``wanted`` the offer covers, on the lot step."""
    if offer is None or wanted <= offer:
        return wanted
    return floor_step(offer, step)


def split(qty: Decimal, parts: int, step: Decimal) -> list[Decimal]:
    """``qty`` as ``parts`` fills on the lot step (fewer when the step does not allow)."""
    if parts <= 1 or qty <= 0:
        return [qty] if qty > 0 else []
    piece = floor_step(qty / parts, step if step > 0 else EIGHT)
    if piece <= 0:
        return [qty]
    out = [piece] * (parts - 1)
    out.append(qty - piece * (parts - 1))
    return out


def crossed(tape: SymbolTape, start: int, end: int, side: str,
            price: Decimal) -> int | None:
    """Index of the first published trade in ``[start, end)`` at or through ``price`` for a
    resting order on ``side`` (a BUY fills on a trade at or below, a SELL at or above)."""
    for i in range(start, end):
        p = Decimal(tape.trades[i].p)
        if (side == "BUY" and p <= price) or (side == "SELL" and p >= price):
            return i
    return None
