"""What runs beside a live executor on HOPE's own REST client: the time and rate guards, the
protective stops, the user data stream and its fill book.

:func:`install` puts them on a :class:`~hope.execution.live.LiveExecutor` built from config
(``live.guard``: :class:`~hope.execution.venue_guard.VenueGuard`; ``live.stops``:
:class:`~hope.venue.stop_driver.StopDriver` when ``protective_stops``). :class:`VenueTasks` is
the executor service's side: every second :meth:`tick` re-estimates the clock when due, learns
the venue's rate limits, sets breaker ``venue_guard`` and publishes its ALERTs, and asks again
about stops of unknown outcome and books the sales of stops the stream reported;
:meth:`start` runs the user stream and the fill book's gap checks
(:class:`~hope.venue.account.AccountFeed`) as one task, whose fills of an order of unknown
outcome resolve it at once (its FILL still comes from the query) and whose stop reports reach
the stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from hope.execution.live import LiveExecutor
from hope.execution.venue_guard import VenueGuard
from hope.runtime import Runtime
from hope.venue.account import AccountFeed
from hope.venue.fills import Fill, FillBook
from hope.venue.keys import load_keys
from hope.venue.stop_driver import StopDriver
from hope.venue.userstream import UserStream

MY_TRADES_WEIGHT, OPEN_ORDERS_ALL_WEIGHT = 20, 80


def install(runtime: Runtime, live: LiveExecutor) -> None:
    """The guards (and the stops, when configured) on HOPE's own REST client."""
    bcfg = runtime.config.execution.binance
    guard = VenueGuard(clock=runtime.clock, max_offset_ms=bcfg.max_clock_offset_ms,
                       refresh_s=bcfg.clock_refresh_s, weight_share=bcfg.weight_share,
                       max_orders_per_day=bcfg.max_orders_per_day,
                       state_path=runtime.state.venue / "orders_today.jsonl", log=runtime.log)
    guard.install(live.venue.rest)
    live.guard = guard
    if bcfg.protective_stops:
        live.stops = stop_driver(runtime, live)


def stop_driver(runtime: Runtime, live: LiveExecutor) -> StopDriver:
    """Protective stops placed, cancelled and queried through the venue adapter."""
    venue = live.venue

    def shape(order: Any) -> dict[str, Any] | None:
        return None if order is None else {"status": order.status, "orderId": order.order_id,
                                           "executedQty": str(order.executed_qty)}

    async def place(params: dict[str, str]) -> dict[str, Any]:
        return await venue.rest.signed("POST", "/api/v3/order", params, weight=1,
                                       is_order=True)

    async def cancel(symbol: str, client_id: str) -> dict[str, Any] | None:
        return shape(await venue.cancel(symbol, client_id))

    async def query(symbol: str, client_id: str) -> dict[str, Any] | None:
        return shape(await venue.query(symbol, client_id, with_fills=False))

    return StopDriver(runtime.state.venue / "stops.jsonl", place=place, cancel=cancel,
                      query=query, grace_s=runtime.config.execution.binance.unknown_grace_s,
                      quarantine_dir=runtime.state.quarantine, log=runtime.log)


class VenueTasks:
    """The service's side of the guards, the stops and the user stream."""

    def __init__(self, runtime: Runtime, live: LiveExecutor, *,
                 resolve_now: Callable[[], Awaitable[None]],
                 lock: asyncio.Lock) -> None:
        assert live.guard is not None
        self.runtime, self.live, self.guard = runtime, live, live.guard
        self.resolve_now = resolve_now
        self.lock = lock
        self.fills_seen = 0
        self.account: AccountFeed | None = None
        self.stream: UserStream | None = None
        self._task: asyncio.Task | None = None
        if runtime.config.execution.binance.user_stream:
            self.account, self.stream = self._account_feed()

    def _account_feed(self) -> tuple[AccountFeed, UserStream]:
        runtime, rest = self.runtime, self.live.venue.rest
        bcfg = runtime.config.execution.binance
        keys = load_keys(bcfg, runtime.state.keys)
        book = FillBook(runtime.state.venue / "fills.jsonl",
                        quarantine_dir=runtime.state.quarantine, log=runtime.log)

        async def my_trades(params: dict[str, Any]) -> Any:
            return await rest.signed("GET", "/api/v3/myTrades", params, weight=MY_TRADES_WEIGHT)

        async def open_orders() -> Any:
            return await rest.signed("GET", "/api/v3/openOrders",
                                     weight=OPEN_ORDERS_ALL_WEIGHT)

        feed = AccountFeed(book, fetch_trades=my_trades, fetch_open_orders=open_orders,
                           symbols=self.watched_symbols, on_fills=self.on_fills,
                           now_ms=self.guard.clock.now_ms,
                           on_order_update=self.live.on_stop_report, log=runtime.log)
        stream = UserStream(bcfg.ws_api_url, api_key=keys.api_key, signer=keys.signer,
                            timestamp_ms=self.guard.clock.now_ms, on_event=feed.on_event,
                            on_gap=feed.on_gap, recv_window_ms=bcfg.recv_window_ms,
                            mode="logon" if keys.signer.kind == "ed25519" else "signature",
                            log=runtime.log)
        return feed, stream

    # --- what the service calls ---------------------------------------------------------------
    def breakers(self) -> list[tuple[str, str]]:
        return [(self.guard.name, self.guard.state)]

    def reason(self, name: str) -> str | None:
        return self.guard.reason if name == self.guard.name else None

    async def prepare(self) -> None:
        """Before the first reconciliation: a clock estimate, so its requests are stamped."""
        await self.guard.tick()

    async def tick(self, changes: list[tuple[str, str, str]],
                   publish: Callable[..., Awaitable[Any]]) -> None:
        """Guard breaker and ALERTs; stop sales booked; stops of unknown outcome asked again."""
        self.guard.learn_limits(self.live.venue.rate_limits)
        changed = await self.guard.tick()
        if changed is not None:
            changes.append((self.guard.name, *changed))
        for alert in self.guard.take_alerts():
            await publish("ALERT", {"service": self.runtime.name, **alert})
        if self.live.stops is None:
            return
        async with self.lock:
            await self.live.close_stop_sales(publish)
        if self.live.gate.allows():
            async with self.lock:
                await self.live.stops.resolve()
                await self.live.reprotect(publish)
                await self.live.stop_alerts(publish, None)

    def watched_symbols(self) -> list[str]:
        """Symbols a stream gap is checked for: open positions and orders in flight."""
        out = {p.symbol for p in self.live.store.positions.values()}
        out |= {rec.decision.payload["symbol"] for _, rec in self.live.pending()}
        return sorted(out)

    async def on_fills(self, fills: list[Fill]) -> None:
        """Trades the stream or a gap check found: an order of unknown outcome among them is
        resolved now (its FILL comes from the query, as always)."""
        self.fills_seen += len(fills)
        pending = {cid for cid, _ in self.live.pending()}
        if any(f.client_id in pending for f in fills):
            await self.resolve_now()

    def start(self) -> None:
        if self.account is not None and self.stream is not None:
            self._task = asyncio.create_task(self.account.run(self.stream.run),
                                             name="venue-user-stream")

    async def stop(self) -> None:
        if self._task is not None and self.stream is not None:
            self.stream.stop()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.close()

    def kill(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        if self.account is not None:
            self.account.book.close()
        if self.live.stops is not None:
            self.live.stops.close()
        self.guard.close()

    def heartbeat(self) -> dict[str, Any]:
        table = self.guard.snapshot()
        if self.account is not None and self.stream is not None:
            table.update(fills=self.account.book.snapshot(), user_stream=self.stream.snapshot())
        if self.live.stops is not None:
            table["stops"] = {"open": len(self.live.stops.stops)}
        return {"venue": {**table, "fills_seen": self.fills_seen}}
