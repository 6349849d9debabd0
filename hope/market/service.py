"""The scanner service: replay recorded trades through the strategies, publish PRICE and SIGNAL.

:class:`ScannerRunner` is the plain, bus-free core (tests drive it with a fake ``publish``);
:func:`setup` wires it into a :class:`hope.runtime.Service`. PRICE events are throttled per symbol
to one per ``price_interval_s`` of market time, and a trade that makes a signal always gets its
PRICE first, so the market clock downstream is never behind a signal. Warm-up trades feed the
strategies but publish nothing. When the replay ends the service loops (``replay.loop``) or idles;
the runtime keeps heartbeating either way, with progress in ``heartbeat_extras``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hope.clock import MarketClock, WallClock
from hope.market.config import ScannerConfig
from hope.market.feeds import FeedError, open_feed
from hope.market.live import LiveItem, LiveSource, open_live
from hope.market.replay import Replay, Sleep, pump_windows
from hope.paths import StatePaths
from hope.strategies.base import Strategy
from hope.strategies.moonbot import MoonbotStrategy
from hope.strategies.pump import PumpStrategy
from hope.strategies.trend import TrendStrategy

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]
MAX_LOGGED_BAD_ROWS = 20


def build_strategies(cfg: ScannerConfig) -> list[Strategy]:
    """The enabled strategies named in ``cfg.strategies``, in that order."""
    out: list[Strategy] = []
    for name in cfg.strategies:
        if name == "pump" and cfg.pump.enabled:
            out.append(PumpStrategy(cfg.pump))
        elif name == "trend" and cfg.trend.enabled:
            out.append(TrendStrategy(cfg.trend))
        elif name == "moonbot":
            out.append(MoonbotStrategy())
    return out


class ScannerRunner:
    """Replays the configured files once per :meth:`run_once`; publishes through ``publish``."""

    def __init__(self, cfg: ScannerConfig, publish: Publish, *, log: Any = None,
                 market_clock: MarketClock | None = None, clock: WallClock | None = None,
                 sleep: Sleep | None = None, base_dir: str | Path | None = None,
                 state: StatePaths | None = None) -> None:
        self.cfg = cfg
        self.state = state
        self.publish = publish
        self.log = log
        self.market_clock = market_clock or MarketClock()
        self.clock = clock
        self.sleep = sleep
        self.base_dir = Path(base_dir) if base_dir else None
        self.strategies = build_strategies(cfg)
        self.replay: Replay | LiveSource | None = None
        self.counts = {"trades": 0, "prices": 0, "signals": 0, "warmup_signals": 0,
                       "bad_rows": 0, "strategy_errors": 0, "passes": 0, "bad_files": 0}
        self._last_price: dict[str, float] = {}

    def _path(self, name: str) -> str:
        p = Path(name)
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        return str(p)

    def _bad_row(self, message: str) -> None:
        self.counts["bad_rows"] += 1
        if self.log is not None and self.counts["bad_rows"] <= MAX_LOGGED_BAD_ROWS:
            self.log.warning("bad_row", where=message)

    def progress(self) -> dict[str, Any]:
        """Heartbeat extras: counters and where the replay is."""
        out: dict[str, Any] = {f"scanner_{k}": v for k, v in self.counts.items()}
        if self.replay is not None:
            out.update(self.replay.progress())
        return out

    def _open(self) -> Replay | LiveSource:
        if self.cfg.source == "binance" and self.state is not None:
            return open_live(self.cfg.binance, self.state, self.strategies, self.publish,
                             self.log)
        rc = self.cfg.replay
        feeds = []
        paths = []
        for path in (self._path(f) for f in rc.files):
            try:
                feed = open_feed(path, on_error=self._bad_row)
            except FeedError as exc:
                self.counts["bad_files"] += 1
                if self.log is not None:
                    self.log.error("feed_unreadable", error=str(exc))
                continue
            if feed.kind != "trades":
                if self.log is not None:
                    self.log.warning("feed_skipped", path=path, reason="bars, not trades")
                continue
            feeds.append(feed)
            paths.append(path)
        if rc.start_ts > 0:
            windows = [(rc.start_ts, None)] * len(feeds)
        else:
            windows = pump_windows(paths, rc.start_before_pump_s, rc.episode_s)
        return Replay(feeds, speed=rc.speed, max_gap_s=rc.max_gap_s, windows=windows,
                      warmup_s=rc.warmup_s, clock=self.clock, sleep=self.sleep)

    async def run_once(self) -> None:
        """One pass over the files, publishing as it goes."""
        self.replay = self._open()
        self._last_price.clear()
        interval = self.cfg.price_interval_s
        async for item in self.replay:
            trade, live = item[0], item[1]
            self.counts["trades"] += 1
            signals = []
            for strategy in self.strategies:
                try:
                    out = strategy.on_trade(trade)
                except Exception as exc:  # a strategy bug must not stop the replay
                    self.counts["strategy_errors"] += 1
                    if self.log is not None:
                        self.log.exception("strategy_failed", strategy=strategy.name,
                                           error=str(exc))
                    continue
                if out:
                    signals.extend(out)
            if not live:
                self.counts["warmup_signals"] += len(signals)
                continue
            ts, symbol, price = trade[0], trade[1], trade[2]
            self.market_clock.observe(ts)
            last = self._last_price.get(symbol)
            if signals or last is None or ts - last >= interval:
                self._last_price[symbol] = ts
                self.counts["prices"] += 1
                await self.publish("PRICE", {"symbol": symbol, "price": price, "market_ts": ts})
            for payload in signals:
                if isinstance(item, LiveItem):
                    payload["feed"] = "binance"  # the engine judges it against the wall clock
                    if item.backfilled:
                        payload["backfilled"] = True
                self.counts["signals"] += 1
                if self.log is not None:
                    self.log.info("signal", symbol=payload["symbol"],
                                  strategy=payload["strategy"], market_ts=payload["market_ts"])
                await self.publish("SIGNAL", payload)
        self.counts["passes"] += 1

    async def run(self) -> None:
        """Replay, then loop (``replay.loop``) or return; the caller keeps the service alive."""
        while True:
            await self.run_once()
            if not self.cfg.replay.loop:
                if self.log is not None:
                    self.log.info("replay_finished", **self.progress())
                return
            # Strategies restart so a looped replay gives the same signals again.
            self.strategies = build_strategies(self.cfg)


async def setup(svc: Any) -> None:
    """Scanner service set-up: the replay runs as a task from start to stop."""
    base = svc.config.path.parent if getattr(svc.config, "path", None) else None

    async def publish(event_type: str, payload: dict[str, Any]) -> None:
        await svc.publish(event_type, payload)

    runner = ScannerRunner(svc.config.scanner, publish, log=svc.log,
                           market_clock=svc.market_clock, base_dir=base, state=svc.state)
    svc.heartbeat_extras.append(runner.progress)
    tasks: list[asyncio.Task] = []

    async def guarded() -> None:
        try:
            await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never kill the service: heartbeats go on, the error is seen
            svc.metrics["scanner_failed"] += 1
            svc.log.exception("scanner_failed", error=str(exc))

    def start() -> None:
        tasks.append(asyncio.create_task(guarded(), name="scanner-replay"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(runner.replay, LiveSource):
            await runner.replay.close()  # the tape's last trades flushed and synced

    svc.on_start(start)
    svc.on_stop(stop)
