"""The account's trades from every path into the fill book, and each new one handed on once.

:class:`AccountFeed` is the glue between :class:`~hope.venue.userstream.UserStream` and
:class:`~hope.venue.fills.FillBook`: the stream's events go into the book (``on_event``), its
gaps mark the book and wake the recovery (``on_gap``), which asks ``/myTrades`` and
``/openOrders`` until it succeeds (every ``retry_s``; REST faults never stop it). New fills —
from the stream, a recovery, or what a crash left unsettled — are handed to ``on_fills`` in
order, one batch at a time, and settled in the book only after ``on_fills`` returned, so a
crash in between hands them on again at the next start (the executor's FILL for a trade is
idempotent by its trade id). ``on_order_update`` gets every ``executionReport`` (a protective
stop's status, a cancel), ``on_open_orders`` the venue's open orders after each gap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from hope.venue.fills import FetchOpenOrders, FetchTrades, Fill, FillBook


class AccountFeed:
    """Fills from the stream and the gap rule, delivered once; ``run`` until cancelled."""

    def __init__(self, book: FillBook, *, fetch_trades: FetchTrades,
                 fetch_open_orders: FetchOpenOrders, symbols: Callable[[], Iterable[str]],
                 on_fills: Callable[[list[Fill]], Awaitable[None]], now_ms: Callable[[], int],
                 on_order_update: Callable[[dict[str, Any]], None] | None = None,
                 on_open_orders: Callable[[list[dict[str, Any]]], None] | None = None,
                 retry_s: float = 5.0, log: Any = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.book = book
        self.fetch_trades = fetch_trades
        self.fetch_open_orders = fetch_open_orders
        self.symbols = symbols
        self.on_fills = on_fills
        self.now_ms = now_ms
        self.on_order_update = on_order_update
        self.on_open_orders = on_open_orders
        self.retry_s = retry_s
        self.log = log
        self.sleep = sleep
        self.queue: asyncio.Queue[list[Fill]] = asyncio.Queue()
        self.gap = asyncio.Event()
        self.delivered = 0
        self.recovery_failures = 0
        if book.unsettled():
            self.queue.put_nowait(book.unsettled())
        if book.gap_pending:
            self.gap.set()

    # --- the stream's callbacks (synchronous: called from its reader) -------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        """One user-data-stream event: fills into the book, the report to ``on_order_update``."""
        new = self.book.add_execution_report(event)
        if new:
            self.queue.put_nowait(new)
        if event.get("e") == "executionReport" and self.on_order_update is not None:
            self.on_order_update(event)

    def on_gap(self, reason: str) -> None:
        """The stream (re)subscribed: what happened before may be unseen."""
        self.book.mark_gap(reason)
        self.gap.set()

    def add_order_reply(self, raw: dict[str, Any]) -> list[Fill]:
        """A FULL order reply the executor got: the fills not seen before (it acts on them and
        calls :meth:`settle`)."""
        return self.book.add_order_reply(raw)

    def settle(self, fills: list[Fill]) -> None:
        self.book.settle(fills)

    # --- tasks --------------------------------------------------------------------------------
    async def recover_once(self) -> bool:
        """One gap recovery; True when it succeeded (the gap is closed)."""
        try:
            result = await self.book.recover(self.fetch_trades, self.fetch_open_orders,
                                             self.symbols(), now_ms=self.now_ms())
        except Exception as exc:  # REST down, a malformed row: the gap stays, retried later
            self.recovery_failures += 1
            if self.log is not None:
                self.log.warning("fill gap recovery failed", error=f"{type(exc).__name__}: "
                                 f"{exc}"[:300], gap=self.book.gap_reason)
            return False
        if result.new_fills:
            self.queue.put_nowait(result.new_fills)
        if self.on_open_orders is not None:
            self.on_open_orders(result.open_orders)
        return True

    async def recover_loop(self) -> None:
        while True:
            await self.gap.wait()
            if await self.recover_once():
                if not self.book.gap_pending:
                    self.gap.clear()
            else:
                await self.sleep(self.retry_s)

    async def deliver_once(self) -> list[Fill]:
        """Hand the next batch on, then settle it."""
        batch = await self.queue.get()
        await self.on_fills(batch)
        self.book.settle(batch)
        self.delivered += len(batch)
        return batch

    async def deliver_loop(self) -> None:
        while True:
            await self.deliver_once()

    async def run(self, *streams: Callable[[], Awaitable[None]]) -> None:
        """Recovery and delivery (and the given stream runners) until cancelled."""
        tasks = [asyncio.ensure_future(c()) for c in (self.recover_loop, self.deliver_loop,
                                                      *streams)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
