"""The HOPE benchmark peers: real declared services on the real runtime and bus.

``hope-pub`` publishes paced SIGNALs, ``hope-sub`` and ``hope-sink`` record what they receive,
``hope-inject`` drives the pipeline row (PRICE + SIGNAL per fresh symbol, after a warm-up that
waits for the first ORDER NEW). Each is run with ``run_service(Cls, rest, name=..., args=...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from hope.bench.baseline_peers import FLUSH_S, Lines, touch
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, every, run_service, subscribe


def signal_payload(symbol: str, i: int, market_ts: float, **extra: Any) -> dict[str, Any]:
    """A pump SIGNAL the benchmark decision config accepts (flow fields at twice the minimum)."""
    return {"symbol": symbol, "strategy": "pump", "price": 1.0, "market_ts": market_ts,
            "buys_per_sec": 10.0, "delta_pct": 10.0, "window_s": 5.0, "i": i, **extra}


class Peer(Service):
    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime)
        self.args = args
        self.task: asyncio.Task | None = None

    @classmethod
    def create(cls, runtime: Runtime, *, args: argparse.Namespace) -> Peer:
        return cls(runtime, args=args)

    async def start(self) -> None:
        # a task of its own: the handler loop must start while the peer sends
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """A peer still sending at SIGTERM is cancelled, and its end awaited."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def run(self) -> None:
        return None


class Publisher(Peer):
    async def run(self) -> None:
        from hope.bench.common import Pacer

        a = self.args
        await asyncio.sleep(a.settle)
        total = a.warmup + a.count
        pacer = Pacer(a.rate)
        monotonic_ns, publish = time.monotonic_ns, self.runtime.publish
        market_ts = time.time()
        for i in range(total):
            pacer.wait(i)  # blocking sleep: same pacing as the raw peers
            await publish("SIGNAL", signal_payload(a.symbol, i, market_ts, t0=monotonic_ns()))
            if i % 256 == 255:
                await asyncio.sleep(0)  # let the bus reader run now and then
        elapsed = time.monotonic() - pacer.start
        touch(a.done, {"sent": total, "elapsed_s": elapsed, "rate": total / elapsed})
        self.runtime.request_stop()


class Recording(Peer):
    """A receiver: one line per event, flushed every ``FLUSH_S`` and on stop."""

    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime, args=args)
        self.out = Lines(args.out)
        self.monotonic_ns = time.monotonic_ns

    @every(FLUSH_S)
    def flush(self) -> None:
        self.out.flush()

    async def start(self) -> None:
        touch(self.args.ready)

    async def stop(self) -> None:
        self.out.flush()


class Receiver(Recording):
    """``hope-sub``: ``<i> <t0_ns> <received_ns>`` per event of ``--prefix``."""

    @subscribe(lambda self: [self.args.prefix], name="bench")
    def on_event(self, env: Envelope) -> None:
        now = self.monotonic_ns()
        p = env.payload
        self.out.add(f"{p['i']} {p['t0']} {now}\n")


class Sink(Recording):
    """``hope-sink``: ``<correlation_id> <received_ns> <status>`` per ORDER; with
    ``--deliveries FILE`` also each service's latest per-type bus counts from its HEARTBEAT
    (:mod:`hope.bench.deliveries`)."""

    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime, args=args)
        self.beats: dict[str, dict[str, Any]] = {}

    @subscribe("ORDER", name="bench")
    def on_order(self, env: Envelope) -> None:
        self.out.add(f"{env.correlation_id} {self.monotonic_ns()} {env.payload.get('status')}\n")

    @subscribe(lambda self: ["HEARTBEAT"] if self.args.deliveries else [], name="bench-beats")
    def on_heartbeat(self, env: Envelope) -> None:
        from hope.bench.deliveries import heartbeat_entry
        self.beats[env.source] = heartbeat_entry(env.payload, env.timestamp)
        touch(self.args.deliveries, self.beats)


class Injector(Peer):
    """PRICE then SIGNAL per symbol (a fresh symbol each time, so no position rule interferes),
    paced. First a warm-up until one ORDER NEW comes back (the pipeline is up: the decision
    engine has heard the audit watermark), then ``count`` measured signals; the ledger holds
    ``<correlation_id> <sent_ns>`` per measured signal."""

    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime, args=args)
        self.first_order = asyncio.Event()
        self.ledger = Lines(args.out)
        self.market_ts = time.time()
        self.counts = {"signals": 0, "prices": 0}

    @subscribe("ORDER", name="bench-ready")
    def on_order(self, env: Envelope) -> None:
        if env.payload.get("status") == "NEW":
            self.first_order.set()

    async def one(self, symbol: str, i: int, record: bool) -> None:
        self.market_ts += 0.001
        await self.publish("PRICE", {"symbol": symbol, "price": 1.0, "market_ts": self.market_ts})
        t0 = time.monotonic_ns()
        env = await self.publish("SIGNAL", signal_payload(symbol, i, self.market_ts))
        self.counts["prices"] += 1
        self.counts["signals"] += 1
        if record:
            self.ledger.add(f"{env.correlation_id} {t0}\n")

    async def warm_up(self) -> int | None:
        """Warm-up signals until the first ORDER NEW; their number, None after the deadline."""
        deadline = time.monotonic() + self.args.ready_timeout
        k = 0
        while not self.first_order.is_set():
            if time.monotonic() > deadline:
                return None
            await self.one(f"W{k:06d}USDT", -1, False)
            k += 1
            try:
                await asyncio.wait_for(self.first_order.wait(), 0.2)
            except TimeoutError:
                pass
        return k

    async def run(self) -> None:
        from hope.bench.common import Pacer

        a = self.args
        k = await self.warm_up()
        if k is None:
            touch(a.done, {"error": f"no ORDER NEW within {a.ready_timeout:g}s of "
                                    "warm-up signals: is the pipeline up?", **self.counts})
            self.runtime.request_stop()
            return
        total = a.warmup + a.count
        pacer = Pacer(a.rate)
        t_start = pacer.start
        for i in range(total):
            pacer.wait(i)
            await self.one(f"S{i:07d}USDT", i, i >= a.warmup)
            if i == a.warmup:
                t_start = time.monotonic()
            if i % 64 == 63:
                await asyncio.sleep(0)
        elapsed = time.monotonic() - t_start
        self.ledger.flush()
        touch(a.done, {"sent": a.count, "elapsed_s": elapsed,
                        "rate": a.count / elapsed if elapsed > 0 else 0.0,
                        "warmup_signals": k + a.warmup, **self.counts})
        self.runtime.request_stop()

    async def stop(self) -> None:
        self.ledger.flush()


PEERS: dict[str, type[Peer]] = {"hope-pub": Publisher, "hope-sub": Receiver, "hope-sink": Sink,
                                "hope-inject": Injector}


def run_peer(args: argparse.Namespace, rest: list[str]) -> None:
    run_service(PEERS[args.mode], rest, name=args.name, args=args)
