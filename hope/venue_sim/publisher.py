"""Publishes each symbol's trades when their time comes, through the fault knobs, to the
connections carrying ``<symbol>@aggTrade``."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from hope.venue_sim.faults import BAD_JSON, StreamFaults
from hope.venue_sim.market import AggTrade, Market, SymbolTape
from hope.venue_sim.ws import StreamServer

MAX_BATCH = 2000       # trades published before yielding to the event loop
MAX_SLEEP = 0.5        # the loop wakes at least this often (new connections, stop)


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@aggTrade"


class Publisher:
    """The market's live side; ``published[symbol]`` is the index of the next trade to send."""

    def __init__(self, market: Market, streams: StreamServer, faults: StreamFaults,
                 shutdown_grace_s: float = 3.0) -> None:
        self.market = market
        self.streams = streams
        self.faults = faults
        self.shutdown_grace_s = shutdown_grace_s
        now = market.now()
        self.published = {sym: tape.published(now) for sym, tape in market.tapes.items()}
        self.frames: Counter[str] = Counter()     # symbol -> trade frames handed to connections
        self._background: set[asyncio.Task] = set()
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Look at the clock now (a test that moved an injected clock calls this)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            now = self.market.now()
            wake: float | None = None
            budget = MAX_BATCH
            for sym, tape in self.market.tapes.items():
                budget -= self._publish_due(sym, tape, now, budget)
                due = tape.next_due(self.published[sym])
                if due is not None:
                    wake = due if wake is None else min(wake, due)
            if budget <= 0:
                await asyncio.sleep(0)
                continue
            delay = MAX_SLEEP if wake is None else min(MAX_SLEEP, wake - self.market.now())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    def _publish_due(self, sym: str, tape: SymbolTape, now: float, budget: int) -> int:
        start = self.published[sym]
        end = min(tape.published(now), start + max(0, budget))
        if end <= start:
            return 0
        stream = stream_name(sym)
        event_ms = tape.event_ms(now)
        for i in range(start, end):
            self.published[sym] = i + 1
            for action, arg in self.faults.plan(sym, tape.trades[i]):
                self._act(action, arg, sym, stream, event_ms)
        return end - start

    def _act(self, action: str, arg: object, sym: str, stream: str, event_ms: int) -> None:
        conns = self.streams.carrying(stream)
        if action == "send":
            if not conns:
                return
            assert isinstance(arg, AggTrade)
            raw = arg.stream_json(sym, event_ms)
            wrapped = f'{{"stream":"{stream}","data":{raw}}}'
            for conn in conns:
                conn.send_data(stream, raw, wrapped)
            self.frames[sym] += 1
        elif action == "bad_json":
            for conn in conns:
                conn.enqueue(BAD_JSON)
        elif action == "stall":
            for conn in conns:
                conn.stall(float(arg))  # type: ignore[arg-type]
        elif action == "drop":
            for conn in conns:
                self._keep(conn.drop())
        elif action == "shutdown":
            self._keep(asyncio.get_running_loop().create_task(
                self.streams.shutdown_all(self.shutdown_grace_s)))

    def _keep(self, task: asyncio.Task) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
