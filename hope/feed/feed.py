"""The live feed: shards, the gap tracker, backfills, the tape and health, as one trade source.

:class:`LiveFeed` resolves the symbols (``exchangeInfo``: TRADING ones only), connects the
shards first (so nothing that trades from now on is missed: live trades are held), then warms
every symbol up, from the tape when it has the symbol (a restart continues after the tape's last
id) or from REST history (a first start), and from then on hands out every trade once, in id
order per symbol, through :meth:`next_batch`. Holes are backfilled, the symbol list is
refreshed, the tape is flushed and pruned, staleness is watched; what happens is reported
through ``on_event`` (FEED kinds) and ``on_alert`` (ALERT kinds).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

from hope.feed.backfill import fill_hole, warmup
from hope.feed.config import BinanceConfig
from hope.feed.connection import Shard
from hope.feed.gaps import GapTracker
from hope.feed.health import FeedHealth, SymbolHealth
from hope.feed.messages import AggTrade, stream_name
from hope.feed.pacing import ConnectLimiter
from hope.feed.rest import RestClient, RestError, WeightGate, trading_symbols
from hope.feed.retention import TapeUsage, prune
from hope.feed.symbol_shard import SymbolShard
from hope.feed.tape import Tape

Report = Callable[[str, dict[str, Any]], Awaitable[None]]
MAX_CONCURRENT_BACKFILLS = 4


class FeedItem(NamedTuple):
    trade: AggTrade
    live: bool          # False: warm-up history, for the strategies' baselines only


async def _ignore(kind: str, payload: dict[str, Any]) -> None:
    return None


class LiveFeed:
    """Every trade of the configured symbols, once and in order, with its tape."""

    def __init__(self, cfg: BinanceConfig, tape_dir: Path, *, quarantine: Path | None = None,
                 on_event: Report | None = None, on_alert: Report | None = None,
                 log: Any = None, symbol_shard: SymbolShard | None = None) -> None:
        self.cfg = cfg
        self.symbol_shard = symbol_shard  # [scanner] shard: only the symbols it owns
        self.log = log
        self.on_event = on_event or _ignore
        self.on_alert = on_alert or _ignore
        self.health = FeedHealth()
        self.seq = GapTracker(cfg.reorder_wait_s, cfg.max_buffered)
        self.gate = WeightGate(cfg.weight_share)
        self.rest = RestClient(cfg.rest_url, self.gate, timeout_s=cfg.request_timeout_s)
        self.tape = Tape(tape_dir, quarantine, on_torn=self._torn)
        self.limiter = ConnectLimiter(cfg.connects_per_5min)
        self.shards: list[Shard] = []
        self.symbols: dict[str, str] = {}          # symbol -> venue status
        self.out: deque[FeedItem] = deque()
        self.ready = asyncio.Event()
        self.warmed = False
        self.warm_until: dict[str, int | None] = {}   # symbol -> last id of its warm-up
        self.tasks: list[asyncio.Task] = []
        self.fills: dict[str, asyncio.Task] = {}
        self.fill_slots = asyncio.Semaphore(MAX_CONCURRENT_BACKFILLS)
        self.session: aiohttp.ClientSession | None = None
        self.usage = TapeUsage()
        self.counts = {"id_gaps": 0, "backfills": 0, "lost_trades": 0, "torn_tails": 0,
                       "rest_errors": 0, "alerts": 0}
        self._alerted: set[str] = set()
        self._stale_reported: set[str] = set()
        self.health.down_since = time.time()   # nothing is up until a shard connects

    # --- output ----------------------------------------------------------------------------
    def _emit(self, trades: list[AggTrade], live: bool = True) -> None:
        if not trades:
            return
        now = time.time()
        for t in trades:
            self.tape.append(t)
            if live:
                self.health.trade(t.symbol, t.ts_ms, t.backfilled, now)
            else:
                self.health.warmup += 1
            self.out.append(FeedItem(t, live))
        self.ready.set()

    def _emit_warm(self, trades: list[AggTrade]) -> None:
        self._emit(trades, live=False)

    async def next_batch(self) -> list[FeedItem]:
        """Wait for trades; returns everything ready (in order)."""
        while not self.out:
            self.ready.clear()
            await self.ready.wait()
        batch = list(self.out)
        self.out.clear()
        now = time.time()
        handed_on = self.health.handed_on
        for item in batch:
            if item.live and not item.trade.backfilled:
                handed_on(item.trade.ts_ms, now)
        return batch

    def _on_live(self, trade: AggTrade) -> None:
        if trade.symbol in self.symbols:
            self._emit(self.seq.offer(trade, time.monotonic()))

    # --- start and stop --------------------------------------------------------------------
    async def start(self) -> None:
        """Resolve symbols, connect, then warm up; the loops run until :meth:`stop`."""
        self.session = aiohttp.ClientSession()
        # Watching first: a venue unreachable from the start raises feed_down too.
        self.tasks.append(asyncio.create_task(self._every(1.0, self._watch), name="feed-watch"))
        self.symbols = await self._resolve()
        for s in self.symbols:
            self.seq.begin_backfill(s, warmup=True)  # hold live trades until warmed up
        self._shard(sorted(self.symbols))
        self.tasks += [asyncio.create_task(sh.run(), name=f"feed-shard-{sh.index}")
                       for sh in self.shards]
        self.tasks.append(asyncio.create_task(self._warm(sorted(self.symbols)),
                                              name="feed-warmup"))
        for name, every, fn in (("holes", 0.05, self._holes), ("flush", self.cfg.flush_s,
                                self._flush),
                                ("symbols", self.cfg.symbols_refresh_s, self._refresh),
                                ("retention", 60.0, self._retain)):
            self.tasks.append(asyncio.create_task(self._every(every, fn), name=f"feed-{name}"))

    async def stop(self) -> None:
        for t in list(self.fills.values()) + self.tasks:
            t.cancel()
        await asyncio.gather(*self.fills.values(), *self.tasks, return_exceptions=True)
        for sh in self.shards:
            await sh.stop()
        self.tape.close()
        await self.rest.close()
        if self.session is not None:
            await self.session.close()

    async def _every(self, interval: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed round must not end the loop
                if self.log is not None:
                    self.log.exception("feed_task_failed", task=fn.__name__, error=str(exc))

    async def _resolve(self) -> dict[str, str]:
        while True:
            try:
                info = await self.rest.exchange_info()
                break
            except RestError as exc:
                self.counts["rest_errors"] += 1
                if self.log is not None:
                    self.log.warning("feed_exchange_info_failed", error=str(exc))
                await asyncio.sleep(min(30.0, self.cfg.backoff_max_s))
        found = trading_symbols(info, self.cfg.symbols, self.cfg.quote)
        for s in self.cfg.symbols:
            if s not in found and self.log is not None:
                self.log.warning("feed_symbol_unknown", symbol=s)
        for s, status in found.items():
            self.health.symbols.setdefault(s, SymbolHealth()).status = status
        return {s: st for s, st in found.items()
                if st == "TRADING" and (self.symbol_shard is None or self.symbol_shard.owns(s))}

    def _shard(self, symbols: list[str], fill_last: bool = True) -> None:
        """Streams for ``symbols`` on new shards (first filling the last one if it has room and
        is not connected yet: a connected shard takes streams by SUBSCRIBE, see _refresh)."""
        per = self.cfg.streams_per_connection
        free = (self.shards[-1] if fill_last and self.shards and len(self.shards[-1].streams) < per
                else None)
        streams = [stream_name(s) for s in symbols]
        while streams:
            if free is not None:
                room = per - len(free.streams)
                free.streams += streams[:room]
                free.h.streams = len(free.streams)
                streams = streams[room:]
                free = None
                continue
            assert self.session is not None
            sh = Shard(len(self.shards), self.cfg, streams[:per], on_trade=self._on_live,
                       on_event=self._feed_event, health=self.health, limiter=self.limiter,
                       session=self.session, log=self.log, on_reconnect=self._reconnected)
            self.shards.append(sh)
            streams = streams[per:]

    async def _warm(self, symbols: list[str]) -> None:
        """Warm each symbol up (tape, else REST history) while its live trades are held."""
        for s in symbols:
            last = self.tape.last(s)
            if last is not None:
                self._emit_warm_from_tape(s, last.ts_ms - int(self.cfg.warmup_s * 1000))
                self.seq.set_last(s, last.id)
            else:
                try:
                    got = await warmup(s, self.rest, self._emit_warm, span_s=self.cfg.warmup_s,
                                       max_s=self.cfg.max_backfill_s)
                except RestError as exc:
                    self.counts["rest_errors"] += 1
                    if self.log is not None:
                        self.log.warning("feed_warmup_failed", symbol=s, error=str(exc))
                    got = None
                self.seq.set_last(s, got)
            self.warm_until[s] = self.seq.get(s).last
            self._emit(self.seq.end_backfill(s))
        self.warmed = True
        if self.log is not None:
            self.log.info("feed_warmed_up", symbols=len(symbols),
                          trades=self.health.warmup, warm_until=self.warm_until)

    def _emit_warm_from_tape(self, symbol: str, since_ms: int) -> None:
        # Already on the tape: straight to the strategies, not appended again.
        for t in self.tape.read(symbol, since_ms):
            self.out.append(FeedItem(t, False))
            self.health.warmup += 1
        self.ready.set()

    # --- loops -----------------------------------------------------------------------------
    async def _holes(self) -> None:
        for symbol, hole in self.seq.due(time.monotonic()):
            if symbol in self.fills:
                continue
            # A catch-up after a reconnect (no trade seen past the hole yet) is reported only
            # if it found trades; a real id gap is reported when it is found.
            catch_up = hole[1] is None and not self.seq.get(symbol).held
            if not catch_up:
                self.counts["id_gaps"] += 1
                await self._feed_event("id_gap", {"symbol": symbol, "from": hole[0],
                                                  "to": hole[1]})
            self.fills[symbol] = asyncio.create_task(self._fill(symbol, catch_up),
                                                     name=f"fill-{symbol}")

    async def _fill(self, symbol: str, catch_up: bool) -> None:
        try:
            async with self.fill_slots:
                res = await fill_hole(symbol, self.seq, self.rest, self._emit,
                                      max_backfill_s=self.cfg.max_backfill_s)
            self.counts["backfills"] += 1
            if not catch_up or res.trades or res.lost:
                await self._feed_event("backfilled", {**res.payload(), "catch_up": catch_up})
            for sym, first, last in self.seq.lost_ranges:
                self.counts["lost_trades"] += last - first + 1
                await self._alert("feed_trades_lost", {"symbol": sym, "from": first,
                                                       "to": last})
            self.seq.lost_ranges.clear()
        finally:
            self.fills.pop(symbol, None)

    def _reconnected(self, streams: list[str]) -> None:
        now = time.monotonic()
        wanted = set(streams)
        for s in self.symbols:
            if stream_name(s) in wanted:
                self.seq.request_catch_up(s, now)

    async def _flush(self) -> None:
        self.tape.flush()
        now = time.monotonic()
        if now - getattr(self, "_synced", 0.0) >= self.cfg.fsync_s:
            self._synced = now
            await asyncio.to_thread(self.tape.fsync)

    async def _watch(self) -> None:
        now = time.time()
        h = self.health
        if h.down_since is not None and now - h.down_since >= self.cfg.down_alert_s:
            await self._alert("feed_down", {"down_s": round(now - h.down_since, 1)})
        elif h.down_since is None:
            self._alerted.discard("feed_down")
        stale = [s for s, sh in h.symbols.items() if s in self.symbols and sh.last_arrival
                 and now - sh.last_arrival > self.cfg.stale_symbol_s]
        for s in stale:
            h.symbols[s].stale = True
            if s not in self._stale_reported:
                self._stale_reported.add(s)
                await self._feed_event("stale", {"symbol": s, "age_s": round(
                    now - h.symbols[s].last_arrival, 1)})
        self._stale_reported.intersection_update(stale)
        if self.symbols and len(stale) == len(self.symbols):
            await self._alert("feed_stale", {"symbols": len(stale),
                                             "threshold_s": self.cfg.stale_symbol_s})
        else:
            self._alerted.discard("feed_stale")

    async def _refresh(self) -> None:
        found = await self._resolve()
        added = sorted(set(found) - set(self.symbols))
        removed = sorted(set(self.symbols) - set(found))
        if not added and not removed:
            return
        self.symbols = found
        for s in added:
            self.seq.begin_backfill(s, warmup=True)
        for sh in self.shards:
            gone = [stream_name(s) for s in removed if stream_name(s) in sh.streams]
            if gone:
                await sh.change([], gone)
        room = [sh for sh in self.shards if len(sh.streams) < self.cfg.streams_per_connection]
        if added and room:
            take = self.cfg.streams_per_connection - len(room[0].streams)
            await room[0].change([stream_name(s) for s in added[:take]], [])
            added_rest = added[take:]
        else:
            added_rest = added
        if added_rest:
            n = len(self.shards)
            self._shard(added_rest, fill_last=False)
            self.tasks += [asyncio.create_task(sh.run()) for sh in self.shards[n:]]
        for s in removed:
            sh = self.health.symbols.get(s)
            if sh is not None and sh.status == "TRADING":
                sh.status = "DELISTED"  # no longer listed at all (BREAK is set by _resolve)
        await self._feed_event("symbols", {"added": added, "removed": removed,
                                           "symbols": len(self.symbols)})
        if added:
            await self._warm(added)

    async def _retain(self) -> None:
        keep = set(self.tape.fds)
        self.usage = await asyncio.to_thread(
            prune, self.tape.root, max_age_s=self.cfg.tape_max_age_days * 86400.0,
            max_bytes=self.cfg.tape_max_bytes, now=time.time(), keep=keep)
        if self.usage.bytes >= self.cfg.tape_alert_share * self.cfg.tape_max_bytes:
            await self._alert("tape_disk", {"bytes": self.usage.bytes,
                                            "budget": self.cfg.tape_max_bytes})
        else:
            self._alerted.discard("tape_disk")

    # --- reporting -------------------------------------------------------------------------
    def _torn(self, path: Path, cut: int) -> None:
        self.counts["torn_tails"] += 1
        if self.log is not None:
            self.log.warning("tape_torn_tail", path=str(path), bytes=cut)

    async def _feed_event(self, kind: str, payload: dict[str, Any]) -> None:
        await self.on_event(kind, {"kind": kind, **payload})

    async def _alert(self, kind: str, payload: dict[str, Any]) -> None:
        if kind in self._alerted and not kind.endswith("_lost"):
            return
        self._alerted.add(kind)
        self.counts["alerts"] += 1
        await self.on_alert(kind, {"kind": kind, **payload})

    def progress(self) -> dict[str, Any]:
        """The heartbeat's ``feed`` table."""
        extra = {**self.counts, **self.seq.totals(), "warmed_up": self.warmed,
                 "symbols_count": len(self.symbols), "rest_requests": self.rest.requests,
                 "rest_weight_used": self.gate.used, "rest_bans": self.gate.bans,
                 "rest_limited": self.gate.limited, "tape_rows": self.tape.rows,
                 "tape_bytes": self.usage.bytes, "tape_budget": self.cfg.tape_max_bytes,
                 "queued": len(self.out)}
        return self.health.snapshot(time.time(), extra)
