"""The dashboard's in-memory view (hope.dashboard.model) built from real envelopes."""

from __future__ import annotations

import asyncio

from hope.dashboard.config import DashboardConfig
from hope.dashboard.history import fold, merged
from hope.dashboard.model import DashboardModel, record_of
from hope.dashboard.stream import UpdateLog
from hope.dashboard.testing import T0, trade, ts
from hope.envelope import new_event


def test_a_trade_puts_each_marker_on_the_market_clock():
    """SIGNAL, BUY, ORDER, FILL and CLOSE land on the symbol's chart at their market time."""
    model = DashboardModel()
    for env in trade():
        model.apply(record_of(env))
    counts = model.marker_counts()["NASBTC"]
    assert counts == {"SIGNAL": 1, "BUY": 1, "SKIP": 0, "ORDER": 1, "FILL": 1, "CLOSE": 1}
    markers = model.symbols["NASBTC"]["markers"]
    assert markers["ORDER"][0]["t"] == T0  # placed at its decision
    assert markers["CLOSE"][0]["t"] == T0 + 12
    assert "0.001 BTC" in markers["BUY"][0]["label"]  # not 0.00


def test_skip_marker_carries_its_reasons():
    """A SKIP decision's marker names every rule that refused it."""
    model = DashboardModel()
    env = new_event("DECISION", {"symbol": "EVXBTC", "action": "SKIP", "confidence": 0.0,
                                 "reasons": [{"rule": "cooldown", "detail": "12 s left"},
                                             {"rule": "halted", "detail": ""}],
                                 "position_size": 0.0, "targets": {}, "config_hash": "x",
                                 "market_ts": T0, "price": 0.00002}, source="decision-engine")
    (update,) = model.apply(record_of(env))
    assert update["marker_kind"] == "SKIP"
    assert update["marker"]["reasons"] == "cooldown: 12 s left; halted"


def test_repeats_count_once_and_pnl_win_rate_and_latency_follow():
    """A repeated event changes nothing; closes sum per quote; stages are timed in ms."""
    model = DashboardModel()
    wins = trade(pnl=0.00001)
    loss = trade(symbol="EVXBTC", pnl=-0.000004, reason="stop_loss")
    for env in wins + wins + loss:
        model.apply(record_of(env))
    stats = model.snapshot()["stats"]["BTC"]
    assert stats["closes"] == 2 and stats["wins"] == 1
    assert abs(stats["pnl"] - 0.000006) < 1e-12
    assert stats["text"]["win_rate"] == "50.0%"
    lat = {k: list(v) for k, v in model.latency.items()}
    assert [round(x, 3) for x in lat["signal→decision"]] == [2.0, 2.0]
    assert [round(x, 3) for x in lat["order→fill"]] == [3.0, 3.0]


def test_open_position_is_revalued_by_each_price_and_removed_at_close():
    """Unrealised P&L follows the PRICE stream; a CLOSE removes the position."""
    model = DashboardModel()
    sig, dec, order, fill, close = trade()
    for env in (sig, dec, order, fill):
        model.apply(record_of(env))
    price = new_event("PRICE", {"symbol": "NASBTC", "price": 0.0000163, "market_ts": T0 + 5},
                      source="scanner")
    updates = model.apply(record_of(price))
    (pos,) = [u["position"] for u in updates if u["kind"] == "position"]
    expected = 65.0 * (0.0000163 - 0.0000153) - 0.000001
    assert abs(pos["unrealised"] - expected) < 1e-15
    assert pos["text"]["unrealised"] == "+0.000064 BTC"
    updates = model.apply(record_of(close))
    assert {"kind": "position_closed", "order_id": "hope-1"} in updates
    assert model.snapshot()["positions"] == []


def test_rates_per_topic_from_heartbeat_deltas():
    """Events/s per topic: the delta of a publisher's events_out between two of its beats."""
    now = [100.0]
    model = DashboardModel(clock=lambda: now[0])

    def beat(n_signal: int, n_price: int) -> None:
        env = new_event("HEARTBEAT", {"service": "scanner", "pid": 1, "host": "h1",
                                      "events_out": {"SIGNAL": n_signal, "PRICE": n_price}},
                        source="scanner")
        model.apply(record_of(env))

    beat(10, 100)
    now[0] = 102.0
    beat(14, 140)
    rates = model.snapshot()["rates"]
    assert rates["SIGNAL"]["per_s"] == 2.0 and rates["PRICE"]["per_s"] == 20.0
    health = model.snapshot()["health"]
    assert health[0]["host"] == "h1" and health[0]["service"] == "scanner"


def test_live_feed_lag_and_gaps_from_the_scanner_heartbeat():
    """A live feed's lag quantiles, gaps and stale symbols come from its heartbeat table."""
    model = DashboardModel(DashboardConfig(feed_stale_s=10), clock=lambda: 50.0)
    feed = {"connections": [{"index": 0, "state": "up"}, {"index": 1, "state": "down"}],
            "symbols": {"NASBTC": {"last_trade_age_s": 1.0}, "EVXBTC": {"last_trade_age_s": 99}},
            "lag_s": {"p50": 0.004, "p99": 0.05}, "id_gaps": 2, "lost_trades": 0, "down_s": 0}
    env = new_event("HEARTBEAT", {"service": "scanner", "pid": 1, "feed": feed},
                    source="scanner")
    model.apply(record_of(env))
    f = model.snapshot()["feed"]
    assert f["connections_up"] == 1 and f["id_gaps"] == 2 and f["stale"] == ["EVXBTC"]
    assert f["text"]["lag_p99"] == "50 ms"


def test_operational_panels():
    """Trading state, dead letters and alerts are listed as they arrive."""
    model = DashboardModel()
    for et, payload in [
            ("TRADING_STATE", {"service": "decision-engine", "state": "HALTED",
                               "previous": "ACTIVE", "by": "cli"}),
            ("DEAD_LETTER", {"service": "executor", "handler": "on_decision", "error": "boom",
                             "error_type": "RuntimeError", "attempt": 1,
                             "topic": "DECISION.X", "event": {}}),
            ("ALERT", {"kind": "dlq_parked", "id": 3})]:
        model.apply(record_of(new_event(et, payload, source="executor")))
    snap = model.snapshot()
    assert snap["trading"]["state"] == "HALTED"
    assert snap["dead_letters"][0]["error"] == "boom"
    assert snap["alerts"][0]["kind"] == "dlq_parked" and "id=3" in snap["alerts"][0]["detail"]


def test_history_merges_families_in_wall_clock_order():
    """Catch-up folds records of several families in timestamp order, honours the range and
    keeps only the newest prices of each symbol."""
    envs = trade()
    by_family = {"signals": [envs[0]], "decisions": [envs[1]], "orders": [envs[2]],
                 "fills": [envs[3]], "closes": [envs[4]]}
    recs = merged(lambda fam: [record_of(e) for e in by_family.get(fam, [])])
    assert [r["event_type"] for r in recs] == ["SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE"]
    assert len(merged(lambda fam: [record_of(e) for e in by_family.get(fam, [])],
                      since=ts(1), until=ts(7))) == 3
    prices = [record_of(new_event("PRICE", {"symbol": sym, "price": 1.0 + i, "market_ts": T0 + i},
                                      source="scanner", timestamp=ts(i)))
              for i in range(10) for sym in ("AAABTC", "BBBBTC")]
    kept = merged(lambda fam: prices if fam == "prices" else [], prices_per_symbol=3)
    assert [(r["payload"]["symbol"], r["payload"]["price"]) for r in kept] == [
        (s, p) for p in (8.0, 9.0, 10.0) for s in ("AAABTC", "BBBBTC")]
    model = DashboardModel()
    assert fold(model, recs) == 5
    assert fold(model, recs) == 0  # the live stream repeating history adds nothing


def test_update_log_resumes_after_an_id_or_asks_for_a_snapshot():
    """Last-Event-ID of this process resumes exactly; an unknown or too old one gets None."""
    async def run() -> None:
        log = UpdateLog(keep=3, epoch="e1")
        for i in range(5):
            log.append([{"kind": "x", "i": i}])
        assert log.parse("e1-3") == 3
        assert [n for n, _ in log.since(3)] == [4, 5]
        assert log.parse("e1-1") is None      # batches 2.. are gone: snapshot
        assert log.parse("e0-4") is None      # another process's id
        assert log.parse("e1-9") is None      # the future
        assert await log.wait(4, 0.01) is True
        assert await log.wait(5, 0.01) is False
    asyncio.run(run())
