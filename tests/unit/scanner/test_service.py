"""Scanner service: replay → strategies → throttled PRICE and SIGNAL, warm-up silent, never crashes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hope.bus.memory import LocalBroker
from hope.clock import ManualClock
from hope.envelope import validate_payload
from hope.market.config import ReplayConfig, ScannerConfig
from hope.scanner.service import ScannerRunner, ScannerService
from hope.testing import async_wait_for, service_for_tests

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "market"
PUMP = str(FIX / "binance_pump_trades_TSTBTC_2021-01-01T0000Z.csv")
T = 1609459200.0


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, event_type: str, payload: dict[str, Any]) -> None:
        validate_payload(event_type, payload)
        self.events.append((event_type, payload))

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == event_type]


def config(**replay: Any) -> ScannerConfig:
    rc = ReplayConfig(files=[PUMP], **{"speed": 0.0, **replay})
    return ScannerConfig(replay=rc, strategies=["pump"])


def run(cfg: ScannerConfig, **kw: Any) -> tuple[ScannerRunner, Recorder]:
    rec = Recorder()
    runner = ScannerRunner(cfg, rec, **kw)
    asyncio.run(runner.run_once())
    return runner, rec


def test_pump_file_gives_one_signal_preceded_by_its_price() -> None:
    """The synthetic pump signals once; a PRICE with the signal's market_ts comes right before."""
    runner, rec = run(config())
    sigs = rec.of("SIGNAL")
    assert len(sigs) == 1 and sigs[0]["symbol"] == "TSTBTC"
    i = rec.events.index(("SIGNAL", sigs[0]))
    assert rec.events[i - 1] == ("PRICE", {"symbol": "TSTBTC", "price": sigs[0]["price"],
                                           "market_ts": sigs[0]["market_ts"]})
    assert runner.market_clock.now() == rec.of("PRICE")[-1]["market_ts"]


def test_prices_are_throttled_per_symbol_on_market_time() -> None:
    """Except with a signal, PRICE events of a symbol are at least price_interval_s apart."""
    _, rec = run(config())
    ts = [p["market_ts"] for p in rec.of("PRICE")]
    sig_ts = {s["market_ts"] for s in rec.of("SIGNAL")}
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False) if b not in sig_ts]
    assert gaps and min(gaps) >= 0.25
    assert len(ts) < 459  # the burst's trades did not each get a PRICE


def test_warmup_and_window_publish_only_from_the_start() -> None:
    """Trades before the start (T - 20 s) feed strategies silently; nothing after T + episode."""
    runner, rec = run(config(episode_s=600.0))
    ts = [p["market_ts"] for p in rec.of("PRICE")]
    assert min(ts) >= T - 20.0 and max(ts) <= T + 600.0
    prog = runner.progress()
    assert prog["replay_warmup"] > 0 and prog["replay_skipped"] > 0 and prog["replay_done"]


def test_same_signals_at_any_speed() -> None:
    """Real-time pacing on a manual clock gives the same signals as as-fast-as-possible."""
    _, fast = run(config())
    clock = ManualClock(0.0)

    async def fake_sleep(s: float) -> None:
        clock.advance(s)

    _, paced = run(config(speed=1.0), clock=clock, sleep=fake_sleep)
    assert paced.of("SIGNAL") == fast.of("SIGNAL") and paced.of("PRICE") == fast.of("PRICE")
    assert 0 < clock.now < 200  # 20 s before the pump + 600 s after, gaps compressed


def test_failing_strategy_and_bad_files_are_counted_not_fatal(tmp_path: Path) -> None:
    """A strategy that raises and an unreadable file are counted; the replay carries on."""
    bad = tmp_path / "junk.csv"
    bad.write_text("foo,bar\n")
    cfg = config()
    cfg.replay.files = [str(bad), PUMP]
    rec = Recorder()
    runner = ScannerRunner(cfg, rec)

    class Boom:
        name = "boom"

        def on_trade(self, trade: Any) -> list:
            raise RuntimeError("bug")

    runner.strategies.insert(0, Boom())
    asyncio.run(runner.run_once())
    assert runner.counts["bad_files"] == 1
    assert runner.counts["strategy_errors"] == runner.counts["trades"] > 0
    assert len(rec.of("SIGNAL")) == 1


async def test_service_runs_the_replay_and_beats_its_market_clock(tmp_path: Path) -> None:
    """The service publishes PRICE and SIGNAL on the bus and reports progress and its market
    clock in its heartbeat."""
    broker = LocalBroker()
    svc = await service_for_tests(ScannerService, tmp_path, broker, overrides={
        "scanner": {"replay": {"files": [PUMP], "speed": 0.0}, "strategies": ["pump"]}})
    task = asyncio.create_task(svc.runtime.run())
    try:
        extras = svc.heartbeat
        await async_wait_for(lambda: extras().get("replay_done"), message="replay done")
        types = [e.event_type for e in broker.published]
        assert types.count("SIGNAL") == 1 and "PRICE" in types
        sig = next(e for e in broker.published if e.event_type == "SIGNAL")
        assert sig.topic == "SIGNAL.TSTBTC" and sig.source == "scanner"
        assert extras()["scanner_signals"] == 1
        last_price = max(e.payload["market_ts"] for e in broker.published
                         if e.event_type == "PRICE")
        assert extras()["market_ts"] >= last_price
    finally:
        svc.runtime.request_stop()
        await asyncio.wait_for(task, 10)
