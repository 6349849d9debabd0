"""What the feed says about itself: heartbeat table, FEED stale per symbol, ALERTs once."""

from __future__ import annotations

import time

from hope.feed.config import BinanceConfig
from hope.feed.feed import LiveFeed
from hope.feed.health import FeedHealth, format_feed


def test_snapshot_counts_lag_and_connection_states() -> None:
    """Live trades give lag quantiles; backfilled ones are counted apart; states roll up."""
    h = FeedHealth()
    h.set_state(0, "up", 100.0)
    for i in range(100):
        ts_ms = int((100.0 - 0.01 * (i % 10)) * 1000)
        h.trade("EVXBTC", ts_ms, False, 100.0)
        h.handed_on(ts_ms, 100.0)
    h.trade("EVXBTC", 50_000, True, 100.0)
    snap = h.snapshot(101.0)
    assert snap["live_trades"] == 100 and snap["backfilled_trades"] == 1
    assert snap["connections_up"] == 1 and snap["down_s"] == 0.0
    assert 0.0 <= snap["lag_s"]["p50"] <= snap["lag_s"]["p99"] <= 0.1
    assert snap["symbols"]["EVXBTC"]["last_trade_age_s"] == 1.0
    h.set_state(0, "down", 102.0)
    assert h.snapshot(105.0)["down_s"] == 3.0
    assert "0/1 connections up" in format_feed("scanner", h.snapshot(105.0))[0]


async def test_down_and_stale_alert_once_and_stale_symbols_reported(tmp_path) -> None:
    """No connection for down_alert_s: one ALERT feed_down; a quiet symbol: one FEED stale."""
    events: list[dict] = []
    alerts: list[dict] = []

    async def on_event(kind: str, p: dict) -> None:
        events.append(p)

    async def on_alert(kind: str, p: dict) -> None:
        alerts.append(p)

    cfg = BinanceConfig(symbols=["EVXBTC", "GVTBTC"], down_alert_s=5.0, stale_symbol_s=60.0)
    feed = LiveFeed(cfg, tmp_path, on_event=on_event, on_alert=on_alert)
    feed.symbols = {"EVXBTC": "TRADING", "GVTBTC": "TRADING"}
    now = time.time()
    assert feed.health.down_since is not None        # down until a shard connects
    feed.health.set_state(0, "connecting", now - 10.0)
    feed.health.down_since = now - 10.0
    feed.health.trade("EVXBTC", int((now - 100) * 1000), False, now - 100.0)
    feed.health.trade("GVTBTC", int(now * 1000), False, now)
    await feed._watch()
    await feed._watch()
    assert [a["kind"] for a in alerts] == ["feed_down"]
    assert [(e["kind"], e["symbol"]) for e in events] == [("stale", "EVXBTC")]
    assert feed.health.symbols["EVXBTC"].stale
    feed.health.set_state(0, "up", now)
    feed.health.trade("EVXBTC", int(now * 1000), False, now)
    await feed._watch()
    assert not feed.health.symbols["EVXBTC"].stale
    feed.tape.close()


async def test_tape_over_the_alert_share_of_its_budget_alerts(tmp_path) -> None:
    """The tape at 80 % of its disk budget raises ALERT tape_disk before it is full."""
    alerts: list[dict] = []

    async def on_alert(kind: str, p: dict) -> None:
        alerts.append(p)

    cfg = BinanceConfig(symbols=["EVXBTC"], tape_max_bytes=1000)
    feed = LiveFeed(cfg, tmp_path, on_alert=on_alert)
    d = tmp_path / "EVXBTC"
    d.mkdir()
    hour = time.strftime("%Y-%m-%dT%H", time.gmtime())
    (d / f"binance_EVXBTC_aggtrades_{hour}Z.csv.gz").write_bytes(b"x" * 850)
    await feed._retain()
    assert [a["kind"] for a in alerts] == ["tape_disk"] and alerts[0]["bytes"] == 850
    feed.tape.close()
