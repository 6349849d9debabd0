"""Publishes each symbol's trades when their time comes, through the fault knobs, to the
connections carrying ``<symbol>@aggTrade`` or ``<symbol>@trade`` (one recorded row is one trade
and one aggregate trade: ``t == a``)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterator

from hope.venue_sim.faults import BAD_JSON, StreamFaults
from hope.venue_sim.market import AggTrade, Market, SymbolTape
from hope.venue_sim.ws import StreamConnection, StreamServer

MAX_BATCH = 2000       # trades published before yielding to the event loop
MAX_SLEEP = 0.5        # the loop wakes at least this often (new connections, stop)
SENT_KEEP = 100_000    # per symbol, the send times kept (oldest forgotten first)


# the market streams served, each with its payload builder; a trade goes to both
PAYLOADS: tuple[tuple[str, Callable[[AggTrade, str, int, bool], str]], ...] = (
    ("aggTrade", AggTrade.stream_json), ("trade", AggTrade.trade_json))
Target = tuple[str, list[StreamConnection], Callable[[AggTrade, str, int, bool], str]]


def _dues(tape: SymbolTape, sym: str, start: int, end: int) -> Iterator[tuple[float, str, int]]:
    for i in range(start, end):
        yield tape.next_due(i), sym, i  # type: ignore[misc]


class Publisher:
    """The market's live side; ``published[symbol]`` is the index of the next trade to send."""

    def __init__(self, market: Market, streams: StreamServer, faults: StreamFaults,
                 shutdown_grace_s: float = 3.0,
                 listed: Callable[[str], bool] = lambda symbol: True) -> None:
        self.market = market
        self.listed = listed      # an unlisted symbol's trades happen but are not sent
        self.streams = streams
        self.faults = faults
        self.shutdown_grace_s = shutdown_grace_s
        self.published = {sym: tape.history for sym, tape in market.tapes.items()}
        self.frames: Counter[str] = Counter()     # symbol -> trade frames handed to connections
        # symbol -> aggregate id -> wall µs its first frame was handed to connections
        # (the start of a tick-to-order measurement; /sim/v1/sent)
        self.sent_us: dict[str, dict[int, int]] = {sym: {} for sym in market.tapes}
        self._background: set[asyncio.Task] = set()
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Look at the clock now (a test that moved an injected clock calls this)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            if self.publish_due(self.market.now()) >= MAX_BATCH:
                await asyncio.sleep(0)      # more is due: let connections write first
                continue
            dues = [tape.next_due(self.published[sym]) for sym, tape in self.market.tapes.items()]
            wake = min((d for d in dues if d is not None), default=None)
            delay = MAX_SLEEP if wake is None else min(MAX_SLEEP, wake - self.market.now())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    def publish_due(self, now: float) -> int:
        """Publish what is due at ``now`` (at most MAX_BATCH), across symbols in time order."""
        runs = []
        for sym, tape in self.market.tapes.items():
            start = self.published[sym]
            end = min(tape.published(now), start + MAX_BATCH)
            if end > start:
                runs.append(_dues(tape, sym, start, end))
        if not runs:
            return 0
        targets: dict[str, list[Target]] = {}
        count = 0
        for _, sym, i in heapq.merge(*runs):
            tape = self.market.tapes[sym]
            if sym not in targets:
                targets[sym] = self._targets(sym)
            self.published[sym] = i + 1
            for action, arg in self.faults.plan(sym, tape.trades[i]):
                self._act(action, arg, sym, tape.event_ms(now), targets[sym])
            count += 1
            if count >= MAX_BATCH:
                break
        return count

    def _targets(self, sym: str) -> list[Target]:
        """The symbol's streams that have listeners: (name, connections, payload builder)."""
        if not self.listed(sym):
            return []
        out = []
        for kind, build in PAYLOADS:
            name = f"{sym.lower()}@{kind}"
            conns = self.streams.carrying(name)
            if conns:
                out.append((name, conns, build))
        return out

    def _act(self, action: str, arg: object, sym: str, event_ms: int,
             targets: list[Target]) -> None:
        if action == "send":
            assert isinstance(arg, AggTrade)
            for stream, conns, build in targets:
                frames: dict[bool, tuple[str, str]] = {}
                for conn in conns:
                    if conn.micro not in frames:
                        raw = build(arg, sym, event_ms, conn.micro)
                        frames[conn.micro] = raw, f'{{"stream":"{stream}","data":{raw}}}'
                    conn.send_data(stream, *frames[conn.micro])
            self.frames[sym] += 1
            if targets:
                self._sent(sym, arg.a)
            return
        conns = list(dict.fromkeys(c for _, cs, _ in targets for c in cs))
        if action == "bad_json":
            for conn in conns:
                conn.enqueue(BAD_JSON)
        elif action == "stall":
            for conn in conns:
                conn.stall(float(arg))  # type: ignore[arg-type]
        elif action == "drop":
            for conn in conns:
                self.keep(conn.drop())
        elif action == "shutdown":
            self.keep(asyncio.get_running_loop().create_task(
                self.streams.shutdown_all(self.shutdown_grace_s)))
        elif action == "outage":
            for task in self.streams.begin_outage(float(arg)):  # type: ignore[arg-type]
                self.keep(task)

    def _sent(self, sym: str, agg_id: int) -> None:
        sent = self.sent_us[sym]
        if agg_id not in sent:
            sent[agg_id] = time.time_ns() // 1000
            if len(sent) > SENT_KEEP:
                del sent[next(iter(sent))]

    def keep(self, task: asyncio.Task) -> None:
        """Hold a background task (drops, shutdowns) until it ends; ``stop`` cancels them."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
