"""The recorded trade stream as a live market: contiguous aggTrade ids, a clock, speed N×.

Each symbol's trades come from recorded files (any trade format :mod:`hope.market.feeds`
reads; the symbol from the file name or the file's symbol column). Recorded files carry no
usable aggregate ids, so the stand-in assigns them: ``first_id, first_id + 1, ...`` per symbol,
one aggregate trade per recorded row (``f == l == a``).

Timeline, per symbol: the live stream starts ``skip_s`` market seconds after the symbol's first
trade (earlier trades are history, served by REST only) at the moment the market starts
(``t0``, wall clock: ``start_delay_s`` after the stand-in starts, time for clients to connect);
from then on market time runs ``speed`` times faster than the wall clock, until the market is
*closed* (:meth:`Market.close`, ``POST /sim/v1/market``): no trade after that moment is ever
published, so the stream goes quiet and resting orders and stops stop matching (the end of a
rehearsal, where what the venue did must stay what HOPE saw).
A trade is *published* once its market time has come: the WebSocket sends it then, and REST
serves only published trades. Timestamps are either the recorded ones or, with ``rebase``, the
wall time at which the trade is published (history: before ``t0``, compressed by the same
speed), so a live consumer sees market time equal to wall time.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from hope.market.feeds import FeedError, open_feed


class AggTrade(NamedTuple):
    """One aggregate trade as the venue reports it (prices and quantities as strings)."""

    a: int          # aggregate trade id, contiguous per symbol
    p: str          # price
    q: str          # quantity (base units)
    T: int          # trade time, ms
    m: bool         # is the buyer the maker (the taker sold)

    def trade_json(self, symbol: str, event_ms: int, micro: bool = False) -> str:
        """The ``<symbol>@trade`` payload (trade id ``t`` = the aggregate id)."""
        scale = 1000 if micro else 1
        return (f'{{"e":"trade","E":{event_ms * scale},"s":"{symbol}","t":{self.a},'
                f'"p":"{self.p}","q":"{self.q}","T":{self.T * scale},'
                f'"m":{"true" if self.m else "false"},"M":true}}')

    def rest_row(self, micro: bool = False) -> dict:
        """The row of ``GET /api/v3/aggTrades``: the stream's fields less ``e``, ``E``, ``s``."""
        return {"a": self.a, "p": self.p, "q": self.q, "f": self.a, "l": self.a,
                "T": self.T * 1000 if micro else self.T, "m": self.m, "M": True}

    def stream_json(self, symbol: str, event_ms: int, micro: bool = False) -> str:
        """The ``<symbol>@aggTrade`` payload as the stream sends it (a template: this is the
        stand-in's hot path; every field is a number, a bool or a plain ASCII string).
        ``micro``: times in microseconds (``timeUnit=MICROSECOND``)."""
        scale = 1000 if micro else 1
        return (f'{{"e":"aggTrade","E":{event_ms * scale},"s":"{symbol}","a":{self.a},'
                f'"p":"{self.p}","q":"{self.q}","f":{self.a},"l":{self.a},"T":{self.T * scale},'
                f'"m":{"true" if self.m else "false"},"M":true}}')


def fmt_decimal(value: float) -> str:
    """A number as the venue writes it: fixed point, 8 decimals (``"0.00001058"``)."""
    return f"{value:.8f}"


@dataclass
class RecordedTrades:
    """The trades of one symbol read from files: market times and the venue rows' fields."""

    symbol: str
    ts: list[float] = field(default_factory=list)       # market seconds, non-decreasing
    price: list[float] = field(default_factory=list)
    qty: list[float] = field(default_factory=list)
    buyer_maker: list[bool] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def load_recorded(paths: Iterable[str | Path],
                  on_skip: Callable[[str], None] | None = None) -> dict[str, RecordedTrades]:
    """Trades per symbol from recorded files; bar files and unreadable files are skipped.

    ``on_skip`` receives one line per skipped file or bad row (``file:line: reason``).
    Several files of one symbol (e.g. a tape's hourly files) are merged in time order.
    """
    rows: dict[str, list[tuple[float, float, float, bool]]] = {}
    sources: dict[str, list[str]] = {}
    for path in sorted(str(p) for p in paths):
        try:
            feed = open_feed(path, on_error=on_skip)
        except FeedError as exc:
            if on_skip:
                on_skip(f"{exc} (skipped)")
            continue
        if feed.kind != "trades":
            if on_skip:
                on_skip(f"{path}: holds {feed.kind}, not trades (skipped)")
            continue
        for t in feed.trades():
            rows.setdefault(t.symbol, []).append((t.ts, t.price, t.qty, not t.taker_buy))
            if path not in sources.setdefault(t.symbol, []):
                sources[t.symbol].append(path)
    out: dict[str, RecordedTrades] = {}
    for symbol, items in sorted(rows.items()):
        items.sort(key=lambda r: r[0])  # stable: equal times keep file order
        rec = RecordedTrades(symbol, sources=sources[symbol])
        for ts, price, qty, maker in items:
            rec.ts.append(ts)
            rec.price.append(price)
            rec.qty.append(qty)
            rec.buyer_maker.append(maker)
        out[symbol] = rec
    return out


class SymbolTape:
    """One symbol's stream: ids, published times, lookups by id and by time."""

    def __init__(self, rec: RecordedTrades, t0: float, speed: float, rebase: bool,
                 skip_s: float, first_id: int) -> None:
        self.symbol = rec.symbol
        self.first_id = first_id
        self.t0 = t0
        self.speed = speed
        self.live_start = (rec.ts[0] if rec.ts else 0.0) + skip_s  # market seconds
        self._market_ts = rec.ts
        self.trades: list[AggTrade] = []
        for i, ts in enumerate(rec.ts):
            shown = self.wall_of(ts) if rebase else ts
            self.trades.append(AggTrade(first_id + i, fmt_decimal(rec.price[i]),
                                        fmt_decimal(rec.qty[i]), int(round(shown * 1000)),
                                        rec.buyer_maker[i]))
        self._times = [t.T for t in self.trades]
        self.rebase = rebase
        self.history = bisect.bisect_left(rec.ts, self.live_start)  # published before t0
        self.end = len(self._market_ts)  # trades from this index on are never published

    def wall_of(self, market_ts: float) -> float:
        """The wall time at which a trade of this market time is published."""
        return self.t0 + (market_ts - self.live_start) / self.speed

    def market_now(self, now: float) -> float:
        return self.live_start + (now - self.t0) * self.speed

    def published(self, now: float) -> int:
        """How many trades are published at wall time ``now`` (history counts as published)."""
        return min(self.end, max(self.history,
                                 bisect.bisect_right(self._market_ts, self.market_now(now))))

    def next_due(self, index: int) -> float | None:
        """The wall time at which trade ``index`` is published, None past the end."""
        if index >= self.end:
            return None
        return self.wall_of(self._market_ts[index])

    def event_ms(self, now: float) -> int:
        """The stream's ``E``: wall time when rebased, else the market clock."""
        return int((now if self.rebase else self.market_now(now)) * 1000)

    def last_id(self, now: float) -> int:
        """The id of the latest published trade (``first_id - 1`` before any)."""
        return self.first_id + self.published(now) - 1

    def query(self, now: float, from_id: int | None, start_ms: int | None,
              end_ms: int | None, limit: int) -> list[AggTrade]:
        """``GET /api/v3/aggTrades`` over the published trades (the venue's selection rules).

        ``fromId`` inclusive and forward; ``startTime`` (with or without ``endTime``): the
        oldest from it; ``endTime`` alone: the newest up to it; none: the newest ``limit``.
        """
        n = self.published(now)
        times = self._times
        if from_id is not None:
            lo = max(0, from_id - self.first_id)
            hi = n if end_ms is None else min(n, bisect.bisect_right(times, end_ms, 0, n))
            return self.trades[lo:min(hi, lo + limit)] if lo < hi else []
        if start_ms is not None:
            lo = bisect.bisect_left(times, start_ms, 0, n)
            hi = n if end_ms is None else bisect.bisect_right(times, end_ms, 0, n)
            return self.trades[lo:min(hi, lo + limit)] if lo < hi else []
        hi = n if end_ms is None else bisect.bisect_right(times, end_ms, 0, n)
        return self.trades[max(0, hi - limit):hi]


class Market:
    """Every symbol's tape on one clock, started at ``t0`` (wall seconds)."""

    def __init__(self, recorded: dict[str, RecordedTrades], *, speed: float = 1.0,
                 rebase: bool = False, skip_s: float = 0.0, first_id: int = 1,
                 start_delay_s: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.clock = clock
        self.t0 = clock() + start_delay_s
        self.speed = speed
        self.rebase = rebase
        self.tapes = {sym: SymbolTape(rec, self.t0, speed, rebase, skip_s, first_id)
                      for sym, rec in recorded.items() if rec.ts}
        self.sources = {sym: rec.sources for sym, rec in recorded.items()}
        self._closed = False

    @property
    def symbols(self) -> list[str]:
        return sorted(self.tapes)

    def now(self) -> float:
        return self.clock()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> dict[str, int]:
        """End every tape at what is published now; per symbol, how many trades that is."""
        now = self.clock()
        for tape in self.tapes.values():
            tape.end = tape.published(now)
        self._closed = True
        return {sym: tape.end for sym, tape in self.tapes.items()}

    def tape(self, symbol: str) -> SymbolTape | None:
        return self.tapes.get(symbol)
