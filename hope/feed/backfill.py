"""REST backfill of id holes and the warm-up history of a first start.

:func:`fill_hole` pages ``GET /api/v3/aggTrades?fromId=<last+1>&limit=1000`` until the symbol has
no hole (the held live trades follow on), or until ``max_backfill_s`` of wall time: the rest is
then recorded as lost (reported, never silent). :func:`warmup` reads the last ``warmup_s`` of
history by ``startTime`` in windows of at most an hour (the venue refuses longer ones), then by
``fromId``. Both hand trades on through ``emit`` in id order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hope.feed.gaps import GapTracker
from hope.feed.messages import AggTrade
from hope.feed.pacing import Backoff
from hope.feed.rest import PAGE, RestClient, RestError

HOUR_MS = 3_600_000
Emit = Callable[[list[AggTrade]], None]
EMPTY_PAGES = 3   # empty answers for a bounded hole before it counts as lost (ids skipped)


@dataclass
class FillResult:
    symbol: str
    first: int | None
    last: int | None
    trades: int = 0
    pages: int = 0
    duration_s: float = 0.0
    lost: tuple[int, int | None] | None = None
    error: str = ""

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"symbol": self.symbol, "from": self.first, "to": self.last,
                               "trades": self.trades, "pages": self.pages,
                               "duration_s": round(self.duration_s, 3)}
        if self.lost is not None:
            out["lost_from"], out["lost_to"] = self.lost
        if self.error:
            out["error"] = self.error
        return out


async def fill_hole(symbol: str, seq: GapTracker, rest: RestClient, emit: Emit, *,
                    max_backfill_s: float, backoff: Backoff | None = None,
                    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> FillResult:
    """Backfill ``symbol`` until its hole is closed (or time runs out)."""
    hole = seq.begin_backfill(symbol)
    res = FillResult(symbol, hole[0] if hole else None, hole[1] if hole else None)
    t0 = time.monotonic()
    backoff = backoff or Backoff(0.5, 10.0)
    empty = 0
    try:
        while (hole := seq.get(symbol).hole()) is not None:
            if time.monotonic() - t0 > max_backfill_s:
                res.lost = seq.give_up(symbol)
                res.error = f"backfill took over {max_backfill_s:g}s"
                break
            try:
                rows = await rest.agg_trades(symbol, from_id=hole[0], limit=PAGE)
            except RestError as exc:
                res.error = str(exc)
                if not exc.retry:
                    res.lost = seq.give_up(symbol)
                    break
                await sleep(backoff.next_delay())
                continue
            res.pages += 1
            out = seq.backfilled(symbol, rows, complete=len(rows) < PAGE)
            res.trades += sum(t.backfilled for t in out)
            emit(out)
            if not rows or (out == [] and hole[1] is not None):
                empty += 1
                if hole[1] is not None and empty >= EMPTY_PAGES:
                    res.lost = seq.give_up(symbol)
                    res.error = "the venue has no trades for these ids"
                    break
            else:
                empty = 0
    finally:
        emit(seq.end_backfill(symbol))
        res.duration_s = time.monotonic() - t0
    return res


async def warmup(symbol: str, rest: RestClient, emit: Emit, *, span_s: float,
                 max_s: float) -> int | None:
    """Read the last ``span_s`` of history before the venue's latest trade (the venue's clock,
    not ours: a stand-in playing old data back warms up the same way); returns the last id read, or
    None when the symbol never traded."""
    latest = await rest.agg_trades(symbol, limit=1)
    if not latest:
        return None
    end = latest[-1]
    t0 = time.monotonic()
    last: int | None = None
    window = end.ts_ms - int(span_s * 1000)
    while last is None and window <= end.ts_ms:
        rows = [r for r in await rest.agg_trades(
            symbol, start_ms=window, end_ms=min(window + HOUR_MS - 1, end.ts_ms), limit=PAGE)
            if r.id <= end.id]
        window += HOUR_MS
        if rows:
            emit(rows)
            last = rows[-1].id
    while last is not None and last < end.id and time.monotonic() - t0 < max_s:
        rows = [r for r in await rest.agg_trades(symbol, from_id=last + 1, limit=PAGE)
                if r.id <= end.id]
        if not rows:
            break
        emit(rows)
        last = rows[-1].id
    return last if last is not None else end.id - 1
