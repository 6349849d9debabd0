"""Play back recorded trades in market-time order, paced on an injectable clock.

Several files merge into one stream by ``ts`` (ties keep file order, so a replay is deterministic).
Pacing: ``speed`` 1 is real time, N is N times faster, 0 is as fast as possible. Quiet gaps longer
than ``max_gap_s`` of market time count as ``max_gap_s``, so hours of an illiquid coin's silence
pass in seconds and a demo reaches the pump within a minute. Each feed may have its own window
(e.g. around the pump in its file name): trades in the ``warmup_s`` before a feed's start are
yielded unpaced with ``live=False`` (strategies need their trailing baselines), anything older or
past the window's end is skipped.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import NamedTuple

from hope.clock import WallClock
from hope.market.feeds import Trade, pump_time_from_name

Sleep = Callable[[float], Awaitable[None]]
YIELD_EVERY = 256  # hand the event loop a turn this often even when not sleeping


class PlaybackItem(NamedTuple):
    trade: Trade
    live: bool     # False: warm-up history before the start, not paced, not for publication


def pump_windows(paths: Iterable[str], before_s: float,
                 after_s: float = 0.0) -> list[tuple[float | None, float | None]]:
    """Per file ``(T - before_s, T + after_s)`` around the pump time T in its name.

    ``after_s`` 0 means to the end of the file; a file without a pump time gets ``(None, None)``.
    """
    out: list[tuple[float | None, float | None]] = []
    for p in paths:
        t = pump_time_from_name(p)
        if t is None:
            out.append((None, None))
        else:
            out.append((t - before_s, t + after_s if after_s > 0 else None))
    return out


class Playback:
    """Async iterator of :class:`PlaybackItem` over merged trade feeds.

    ``windows`` gives each feed its own ``(start, end)`` (None = open); otherwise every feed uses
    ``(start_ts, None)``. A feed's trades before its start are warm-up, after its end dropped.
    """

    def __init__(self, feeds: Iterable[Iterable[Trade]], *, speed: float = 1.0,
                 max_gap_s: float = 2.0, start_ts: float | None = None, warmup_s: float = 0.0,
                 windows: list[tuple[float | None, float | None]] | None = None,
                 clock: WallClock | None = None, sleep: Sleep | None = None) -> None:
        if speed < 0 or max_gap_s <= 0 or warmup_s < 0:
            raise ValueError("replay: speed >= 0, max_gap_s > 0 and warmup_s >= 0 required")
        self.feeds = list(feeds)
        if windows is None:
            windows = [(start_ts, None)] * len(self.feeds)
        if len(windows) != len(self.feeds):
            raise ValueError("replay: one window per feed")
        self.windows = windows
        self.speed = speed
        self.max_gap_s = max_gap_s
        self.warmup_s = warmup_s
        self.clock = clock or WallClock()
        self.sleep: Sleep = sleep or asyncio.sleep
        self.skipped = 0          # trades outside the warm-up and replay windows
        self.warmup = 0           # trades yielded as warm-up
        self.live = 0             # trades yielded paced
        self.market_ts: float | None = None
        self.compressed_s = 0.0   # market seconds of the live part after gap compression
        self.done = False

    def progress(self) -> dict[str, float | int | bool | None]:
        return {"replay_live": self.live, "replay_warmup": self.warmup,
                "replay_skipped": self.skipped, "replay_market_ts": self.market_ts,
                "replay_compressed_s": round(self.compressed_s, 3), "replay_done": self.done}

    def __aiter__(self) -> AsyncIterator[PlaybackItem]:
        return self._run()

    def _tagged(self, feed: Iterable[Trade], start: float | None,
                end: float | None) -> Iterator[PlaybackItem]:
        warm_from = None if start is None else start - self.warmup_s
        for trade in feed:
            ts = trade[0]
            if end is not None and ts > end:
                self.skipped += 1
                break  # files are in time order: the rest is past the end too
            if warm_from is not None and ts < warm_from:
                self.skipped += 1
                continue
            yield PlaybackItem(trade, start is None or ts >= start)

    async def _run(self) -> AsyncIterator[PlaybackItem]:
        streams = [self._tagged(f, s, e) for f, (s, e) in zip(self.feeds, self.windows,
                                                              strict=True)]
        merged = heapq.merge(*streams, key=lambda item: item[0][0])
        wall0: float | None = None
        prev_ts: float | None = None
        n = 0
        for item in merged:
            n += 1
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            ts = item[0][0]
            if not item[1]:
                self.warmup += 1
                self.market_ts = ts
                yield item
                continue
            if prev_ts is not None:
                self.compressed_s += min(max(ts - prev_ts, 0.0), self.max_gap_s)
            prev_ts = ts
            if self.speed > 0:
                now = self.clock.monotonic()
                if wall0 is None:
                    wall0 = now
                wait = wall0 + self.compressed_s / self.speed - now
                if wait > 0:
                    await self.sleep(wait)
            self.live += 1
            self.market_ts = ts
            yield item
        self.done = True
