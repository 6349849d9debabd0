"""The scanner service: play back recorded trades through the strategies, publish PRICE and SIGNAL.

:class:`ScannerRunner` is the plain, bus-free core (tests drive it with a fake ``publish``);
:class:`ScannerService` runs it in a process. PRICE events are throttled per symbol
to one per ``price_interval_s`` of market time, and a trade that makes a signal always gets its
PRICE first, so the market clock downstream is never behind a signal. Warm-up trades feed the
strategies but publish nothing. When the replay ends the service loops (``replay.loop``) or idles;
the runtime keeps heartbeating either way, with the replay's progress and market clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hope.clock import MarketClock, WallClock
from hope.feed.symbol_shard import SymbolShard
from hope.market.config import ScannerConfig
from hope.market.feeds import FeedError, open_feed
from hope.market.live import LiveItem, LiveSource, open_live
from hope.market.playback import Playback, Sleep, pump_windows
from hope.paths import StatePaths
from hope.runtime import Runtime
from hope.service import Service
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
        self.shard = SymbolShard.parse(cfg.shard)  # the symbols this scanner owns (None: all)
        self.replay: Playback | LiveSource | None = None
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

    def _open(self) -> Playback | LiveSource:
        if self.cfg.source == "binance" and self.state is not None:
            return open_live(self.cfg.binance, self.state, self.strategies, self.publish,
                             self.log, symbol_shard=self.shard)
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
            if self.shard is not None and not self.shard.owns(feed.symbol):
                continue  # another scanner's shard (a file holds one symbol)
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
        return Playback(feeds, speed=rc.speed, max_gap_s=rc.max_gap_s, windows=windows,
                      warmup_s=rc.warmup_s, clock=self.clock, sleep=self.sleep)

    async def run_once(self) -> None:
        """One pass over the files, publishing as it goes."""
        self.replay = self._open()
        self._last_price.clear()
        interval = self.cfg.price_interval_s
        async for item in self.replay:
            trade, live = item[0], item[1]
            if self.shard is not None and not self.shard.owns(trade[1]):
                continue  # a file of several symbols: only this shard's
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
        """Play back, then loop (``replay.loop``) or return; the caller keeps the service alive."""
        while True:
            await self.run_once()
            if not self.cfg.replay.loop:
                if self.log is not None:
                    self.log.info("replay_finished", **self.progress())
                return
            # Strategies restart so a looped replay gives the same signals again.
            self.strategies = build_strategies(self.cfg)


class ScannerService(Service):
    """The playback runs as a task from start to stop; its progress and the market clock it has
    reached go into every heartbeat (``market_ts``: the low-rate market time other services,
    e.g. the DLQ daemon, follow)."""

    name = "scanner"

    def __init__(self, runtime: Runtime, *, runner: ScannerRunner) -> None:
        super().__init__(runtime)
        self.runner = runner
        self._task: asyncio.Task | None = None

    @classmethod
    def create(cls, runtime: Runtime, *, runner: ScannerRunner | None = None) -> ScannerService:
        config = runtime.config
        base = config.path.parent if config.path else None
        return cls(runtime, runner=runner or ScannerRunner(
            config.scanner, runtime.publish, log=runtime.log, base_dir=base,
            state=config.state))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._guarded(), name="scanner-replay")

    async def _guarded(self) -> None:
        try:
            await self.runner.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never kill the service: heartbeats go on, the error is seen
            self.metrics["scanner_failed"] += 1
            self.log.exception("scanner_failed", error=str(exc))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if isinstance(self.runner.replay, LiveSource):
            await self.runner.replay.close()  # the tape's last trades flushed and synced

    def kill(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def heartbeat(self) -> dict[str, Any]:
        return {**self.runner.progress(), "market_ts": self.runner.market_clock.now()}
