"""Protective stops in the running executor on the stand-in, counted from its books: after a
BUY the venue holds the STOP_LOSS_LIMIT and reconciliation knows it; flatten cancels it before
the exit SELL; in a falling market the venue's stop sells and HOPE's CLOSE carries its fills
(reason stop_loss) with no SELL of its own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hope.bus.memory import LocalBroker
from hope.envelope import new_event
from hope.execution.service import ExecutorService
from hope.testing import async_wait_for, service_for_tests
from hope.venue_sim.scenario import MarketSettings, Scenario
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import generate_test_keys, running, write_trades

pytestmark = pytest.mark.integration


def tape(tmp_path: Path, falling: bool) -> list[Path]:
    now = time.time()
    rows = [(now - 250 + i, 0.00001 + (i % 3) * 1e-8, 50.0, i % 2 == 0) for i in range(250)]
    rows += [(now + 0.5 * i, round(0.00001 * (0.998 ** i if falling else 1.0) + 1e-8, 8),
              50.0, False) for i in range(1, 400)]
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", rows)]


def decision(price: float, now: float) -> Any:
    payload = {"symbol": "EVXBTC", "strategy": "pump", "action": "BUY", "confidence": 0.7,
               "reasons": [], "position_size": 0.001, "price": price, "quote": "BTC",
               "config_hash": "cfg:t", "market_ts": now,
               "targets": {"take_profit_pct": 50.0, "stop_loss_pct": 0.5, "timeout_s": 600.0}}
    return new_event("DECISION", payload, source="decision-engine")


def price_event(svc: Any, price: float, ts: float) -> Any:
    svc.executor.market_clock.observe(ts)   # the runtime does this for PRICEs off the bus
    return new_event("PRICE", {"symbol": "EVXBTC", "price": price, "market_ts": ts},
                     source="scanner")


async def _run(tmp_path: Path, falling: bool, body) -> None:
    state = tmp_path / "st"
    keys = generate_test_keys(state)
    async with running(tape(tmp_path, falling), Scenario(market=MarketSettings(skip_s=250)),
                       keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        broker = LocalBroker()
        svc = await service_for_tests(ExecutorService, state, broker, {"execution": {
            "exchange": "binance", "binance": {"rest_url": sim.rest_url,
                                               "ws_api_url": f"{sim.ws_url}/ws-api/v3"}}})
        task = asyncio.create_task(svc.runtime.run())

        async def sim_orders() -> list[dict[str, Any]]:
            async with s.get(f"{sim.rest_url}/sim/v1/orders") as r:
                return (await r.json())["orders"]

        def events(kind: str) -> list[Any]:
            return [e for e in broker.published if e.event_type == kind]

        try:
            await async_wait_for(lambda: svc.executor.gate.state == "closed", 20, "reconciled")
            await async_wait_for(lambda: svc.venue_tasks.guard.state == "closed", 20, "guard closed")
            svc.executor.trading_state = "ACTIVE"
            now = time.time()
            await svc.on_price(price_event(svc, 0.00001001, now))
            await svc.on_decision(decision(0.00001001, now))
            assert events("FILL"), [e.payload for e in events("ORDER")]
            [fill] = events("FILL")
            cid = fill.payload["order_id"]
            orders = await sim_orders()
            stop = [o for o in orders if o["clientOrderId"] == cid + "-s1"]
            assert stop and stop[0]["type"] == "STOP_LOSS_LIMIT", orders
            await body(svc, sim_orders, events, cid)
        finally:
            svc.runtime.request_stop()
            await task


async def test_reconciliation_knows_the_stop_and_flatten_cancels_it_first(tmp_path):
    """The stop is HOPE's to reconciliation; flatten: stop CANCELED, then the exit SELL."""
    async def body(svc, sim_orders, events, cid) -> None:
        await svc.executor.reconcile_venue(svc.publish)
        assert svc.executor.gate.state == "closed", svc.executor.gate.reason
        assert await svc.executor.flatten(svc.publish) == 1
        [close] = events("CLOSE")
        assert close.payload["reason"] == "flatten"
        by_id = {o["clientOrderId"]: o for o in await sim_orders()}
        assert by_id[cid + "-s1"]["status"] == "CANCELED"
        assert by_id[cid + "-x"]["status"] == "FILLED"
        assert svc.executor.stops.stops == {}

    await _run(tmp_path, False, body)


async def test_a_falling_market_sells_through_the_venues_stop_not_a_second_sell(tmp_path):
    """The venue's stop fills; HOPE's own stop-loss then finds it sold: CLOSE stop_loss with
    the stop's trades, no -x SELL at the venue."""
    async def body(svc, sim_orders, events, cid) -> None:
        deadline = time.monotonic() + 30
        while True:
            stop = {o["clientOrderId"]: o for o in await sim_orders()}[cid + "-s1"]
            if stop["status"] == "FILLED":
                break
            assert time.monotonic() < deadline, stop
            await asyncio.sleep(0.2)   # the stand-in's market moves on the wall clock
        low = float(stop["fills"][-1]["price"])
        await svc.on_price(price_event(svc, low, time.time()))
        await async_wait_for(lambda: events("CLOSE"), 10, "CLOSE")
        [close] = events("CLOSE")
        assert close.payload["reason"] == "stop_loss"
        assert sorted(close.payload["exit_trade_ids"]) == sorted(f["id"] for f in stop["fills"])
        assert not [o for o in await sim_orders() if o["clientOrderId"] == cid + "-x"]

    await _run(tmp_path, True, body)
