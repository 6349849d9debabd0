"""The stand-in exchange as one object: ``setup`` (read the data), ``start`` (bind 127.0.0.1,
start the market), ``stop`` (close connections, stop serving), ``kill`` (never raises).

One aiohttp application serves REST (``/api/v3/...``) and streams (``/ws``, ``/stream``) on one
port: ``rest_url`` = ``http://127.0.0.1:<port>``, ``ws_url`` = ``ws://127.0.0.1:<port>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import web

from hope.execution.fill_model import FillModel
from hope.venue_sim.accounts import Accounts
from hope.venue_sim.admin import AdminApi
from hope.venue_sim.book import Books
from hope.venue_sim.exchange_info import STATUSES, UNLISTED, ExchangeInfo
from hope.venue_sim.faults import ClockSkew, Outage, StreamFaults
from hope.venue_sim.market import Market, RecordedTrades, load_recorded
from hope.venue_sim.matching import MarketModel
from hope.venue_sim.publisher import Publisher
from hope.venue_sim.rest import RestApi
from hope.venue_sim.scenario import Scenario
from hope.venue_sim.signing import ApiKey, KeyRing
from hope.venue_sim.trading_admin import TradingAdmin
from hope.venue_sim.trading_faults import TradingFaults
from hope.venue_sim.trading_rest import TradingApi
from hope.venue_sim.ws import StreamServer
from hope.venue_sim.ws_api import WsApi

HOST = "127.0.0.1"


class VenueSimError(RuntimeError):
    """The stand-in cannot start (no trades to serve, bad status entry)."""


def write_port_file(path: str | Path, port: int) -> None:
    """``<port>\\n`` written temp → rename, so a reader never sees a partial file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


class VenueSim:
    def __init__(self, paths: Iterable[str | Path], scenario: Scenario | None = None, *,
                 port: int = 0, port_file: str | Path | None = None,
                 clock: Callable[[], float] = time.time,
                 log: Callable[[str], None] = lambda line: None,
                 keys: Iterable[ApiKey] = ()) -> None:
        self.paths = [str(p) for p in paths]
        self.scenario = scenario or Scenario()
        self.port = port
        self.port_file = port_file
        self.clock = clock
        self.log = log
        self.recorded: dict[str, RecordedTrades] = {}
        self.market: Market | None = None
        self.info: ExchangeInfo | None = None
        self.rest: RestApi | None = None
        self.streams: StreamServer | None = None
        self.publisher: Publisher | None = None
        self.keys = KeyRing(list(keys))
        self.skew = ClockSkew()
        self.books: Books | None = None
        self.trading: TradingApi | None = None
        self.trading_faults: TradingFaults | None = None
        self.ws_api: WsApi | None = None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None
        self._match_task: asyncio.Task | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        self.recorded = load_recorded(self.paths, on_skip=self.log)
        if not any(rec.ts for rec in self.recorded.values()):
            raise VenueSimError(f"no trades to serve in {len(self.paths)} file(s): "
                                + ", ".join(self.paths[:5]))
        named = set(self.scenario.status) | {c.symbol for c in self.scenario.status_changes}
        unknown = named - set(self.recorded)
        if unknown:
            raise VenueSimError(f"status for unserved symbol(s): {', '.join(sorted(unknown))}")
        allowed = STATUSES + (UNLISTED,)
        bad = [s for s in [*self.scenario.status.values(),
                           *(c.status for c in self.scenario.status_changes)]
               if s not in allowed]
        if bad:
            raise VenueSimError(f"unknown status {bad[0]!r} (one of {', '.join(allowed)})")

    async def start(self) -> int:
        if not self.recorded:
            self.setup()
        sc = self.scenario
        m = sc.market
        self.market = Market(self.recorded, speed=m.speed, rebase=m.rebase, skip_s=m.skip_s,
                             first_id=m.first_id, start_delay_s=m.start_delay_s,
                             clock=self.clock)
        try:
            self.info = info = ExchangeInfo(self.market, sc.rest.weight_limit, sc.status,
                                            sc.status_changes, sc.trading.orders_per_10s,
                                            sc.trading.orders_per_day)
        except ValueError as exc:
            raise VenueSimError(str(exc)) from None
        outage = Outage()
        self.rest = RestApi(self.market, info, sc.rest, clock=self.clock, outage=outage,
                            skew=self.skew)
        self.books = self._books(info)
        self.trading_faults = TradingFaults(self.clock)
        self.rest.override = self.trading_faults.override
        self.trading = TradingApi(self.books, self.keys, self.rest,
                                  sc.trading.orders_per_10s, sc.trading.orders_per_day,
                                  self.trading_faults)
        self.ws_api = WsApi(self.books, self.keys, self.rest, sc.ws.ping_interval_s, self.log)
        self.streams = StreamServer(sc.ws, log=self.log, outage=outage)
        self.publisher = Publisher(self.market, self.streams, StreamFaults(sc.faults, self.log),
                                   sc.ws.shutdown_grace_s, listed=info.listed)
        app = web.Application()
        self.rest.add_routes(app)
        self.trading.add_routes(app)
        self.ws_api.add_routes(app)
        self.streams.add_routes(app)
        AdminApi(self).add_routes(app)
        TradingAdmin(self.books, self.skew, self.trading_faults, self.ws_api,
                     self.publisher.sent_us).add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._task = asyncio.create_task(self.publisher.run())
        self._match_task = asyncio.create_task(self._match_resting())
        if self.port_file:
            write_port_file(self.port_file, self.port)
        return self.port

    def _books(self, info: ExchangeInfo) -> Books:
        t = self.scenario.trading
        model = MarketModel(FillModel(t.slippage_bps, t.commission_bps), t.liquidity_window_s,
                            t.liquidity_factor)
        for key in self.keys.keys.values():
            key.enable_withdrawals = key.enable_withdrawals or t.enable_withdrawals
        assert self.market is not None
        accounts = Accounts(t.balances)
        for key in self.keys.keys.values():
            accounts.get(key.account)
        return Books(self.market, info, accounts, model,
                     commission_asset=t.commission_asset, partial_fills=t.partial_fills,
                     max_open=t.max_open_orders, clock=self.clock, skew=self.skew)

    async def _match_resting(self, interval_s: float = 0.05) -> None:
        """Resting orders meet the trades published since (user streams hear of fills soon,
        not only when a client next asks)."""
        assert self.books is not None
        while True:
            await asyncio.sleep(interval_s)
            if self.books.open:
                self.books.advance()

    async def stop(self) -> None:
        for task in (self._task, self._match_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._match_task = None
        if self.publisher is not None:
            await self.publisher.stop()
        if self.streams is not None:
            for conn in list(self.streams.connections):
                await conn.close(1001, "server stopping")
        if self.trading_faults is not None:
            self.trading_faults.release(None, "drop")
        if self.ws_api is not None:
            for api_conn in list(self.ws_api.connections):
                with contextlib.suppress(Exception):
                    await api_conn.ws.close(code=1001, message=b"server stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def kill(self) -> None:
        """Stop without waiting: cancel the market, abort every connection. Never raises."""
        with contextlib.suppress(Exception):
            for task in (self._task, self._match_task):
                if task is not None:
                    task.cancel()
            if self.streams is not None:
                for conn in list(self.streams.connections):
                    conn.abort()
            if self.ws_api is not None:
                self.ws_api.kill_all()

    # --- addresses -------------------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"
