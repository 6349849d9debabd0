"""The live trade source: :class:`hope.feed.feed.LiveFeed` behind the playback's interface.

The scanner iterates a source and gets items with ``trade`` (a :class:`Trade`), ``live``
(False: warm-up history, fed to the strategies, never published) and ``backfilled`` (the trade
came by REST after a hole; SIGNALs it causes say so). :func:`last_signals` reads the scanner's
latest SIGNAL per strategy and symbol from the audit log, so a restarted scanner restores each
strategy's cooldowns and signals a pump once across the restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, NamedTuple, Protocol

from hope.audit.canonical import family_for
from hope.audit.reader import AuditReader, open_reader
from hope.feed.config import BinanceConfig
from hope.feed.feed import LiveFeed
from hope.feed.messages import AggTrade
from hope.feed.symbol_shard import SymbolShard
from hope.market.feeds import Trade
from hope.paths import StatePaths

Report = Callable[[str, dict[str, Any]], Awaitable[Any]]
YIELD_EVERY = 256


class Restorable(Protocol):
    """A strategy as far as restoring its cooldowns goes (``hope.strategies.base.Strategy``)."""

    name: str

    def restore(self, signal: dict[str, Any]) -> bool: ...


def to_trade(t: AggTrade) -> Trade:
    """The strategies' view of a venue trade: seconds, floats, taker side."""
    return Trade(t.ts_ms / 1000.0, t.symbol, float(t.price), float(t.qty), not t.buyer_maker)


class LiveItem(NamedTuple):
    trade: Trade
    live: bool
    backfilled: bool = False


class LiveSource:
    """Async iterator of :class:`LiveItem` from the live feed, until cancelled."""

    def __init__(self, cfg: BinanceConfig, state: StatePaths, *, on_event: Report | None = None,
                 on_alert: Report | None = None, log: Any = None,
                 symbol_shard: SymbolShard | None = None) -> None:
        self.feed = LiveFeed(cfg, state.tape, quarantine=state.quarantine,
                             on_event=on_event, on_alert=on_alert, log=log,
                             symbol_shard=symbol_shard)
        self.started = False
        self.done = False

    def progress(self) -> dict[str, Any]:
        return {"feed": self.feed.progress()}

    def __aiter__(self) -> AsyncIterator[LiveItem]:
        return self._run()

    async def _run(self) -> AsyncIterator[LiveItem]:
        if not self.started:
            self.started = True
            await self.feed.start()
        n = 0
        while True:
            for item in await self.feed.next_batch():
                t = item.trade
                yield LiveItem(to_trade(t), item.live, t.backfilled)
                n += 1
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)

    async def close(self) -> None:
        if self.started:
            await self.feed.stop()
        self.done = True


def last_signals(reader: AuditReader, source: str = "scanner") -> list[dict[str, Any]]:
    """The latest SIGNAL payload per (strategy, symbol) that ``source`` published."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in reader.records(family_for("SIGNAL")):
        if rec.get("event_type") != "SIGNAL" or rec.get("source") != source:
            continue
        p = rec["payload"]
        key = (str(p.get("strategy")), str(p.get("symbol")))
        ts = p.get("market_ts")
        if isinstance(ts, int | float) and ts >= latest.get(key, {}).get("market_ts", 0):
            latest[key] = p
    return list(latest.values())


def restore_cooldowns(strategies: Iterable[Restorable], signals: Iterable[dict[str, Any]]) -> int:
    """Hand each strategy its own last signals; returns how many were restored."""
    by_name = {s.name: s for s in strategies}
    n = 0
    for payload in signals:
        strategy = by_name.get(str(payload.get("strategy")))
        if strategy is not None and strategy.restore(payload):
            n += 1
    return n


def open_live(cfg: BinanceConfig, state: StatePaths, strategies: Iterable[Restorable],
              publish: Callable[[str, dict[str, Any]], Awaitable[Any]],
              log: Any = None, symbol_shard: SymbolShard | None = None) -> LiveSource:
    """The scanner's live source: cooldowns restored, FEED events and ALERTs published."""
    reader = open_reader(state)
    restored = restore_cooldowns(strategies, last_signals(reader))
    if log is not None:
        log.info("feed_cooldowns_restored", signals=restored, warnings=reader.warnings[:5])

    async def on_event(kind: str, payload: dict[str, Any]) -> None:
        await publish("FEED", {"venue": "binance", **payload})

    async def on_alert(kind: str, payload: dict[str, Any]) -> None:
        await publish("ALERT", {"venue": "binance", **payload})

    return LiveSource(cfg, state, on_event=on_event, on_alert=on_alert, log=log,
                      symbol_shard=symbol_shard)
