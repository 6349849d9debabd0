"""``hope-live``: the live-like load of :mod:`hope.bench.live` and ``scripts/soak``.

PRICE for ``--symbols`` symbols round-robin at ``--rate`` in total, plus one SIGNAL every
``1 / --signal-rate`` seconds on the symbol whose PRICE went out last (so the decision engine has
a fresh price for it). First every symbol gets a PRICE, then warm-up SIGNALs until one ORDER NEW
comes back (the pipeline is up); then ``--ready`` is touched and the paced load runs for
``--seconds`` (0: until SIGTERM). The ledger holds ``<correlation_id> <sent_ns>`` per measured
SIGNAL; ``--done`` gets what was published and the PRICE rate reached.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from hope.bench.baseline_peers import Lines, touch
from hope.bench.common import Pacer
from hope.bench.hope_peers import Peer, signal_payload
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import run_service, subscribe


def symbols(n: int) -> list[str]:
    return [f"L{i:04d}USDT" for i in range(n)]


class LiveInjector(Peer):
    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime, args=args)
        self.first_order = asyncio.Event()
        self.ledger = Lines(args.out)
        self.symbols = symbols(args.symbols)
        self.counts = {"signals": 0, "prices": 0}

    @subscribe("ORDER", name="bench-ready")
    def on_order(self, env: Envelope) -> None:
        if env.payload.get("status") == "NEW":
            self.first_order.set()

    async def price(self, symbol: str) -> None:
        await self.publish("PRICE", {"symbol": symbol, "price": 1.0, "market_ts": time.time()})
        self.counts["prices"] += 1

    async def signal(self, symbol: str, i: int, record: bool) -> None:
        t0 = time.monotonic_ns()
        env = await self.publish("SIGNAL", signal_payload(symbol, i, time.time()))
        self.counts["signals"] += 1
        if record:
            self.ledger.add(f"{env.correlation_id} {t0}\n")

    async def warm_up(self) -> bool:
        for k, symbol in enumerate(self.symbols):
            await self.price(symbol)
            if k % 64 == 63:
                await asyncio.sleep(0)
        deadline = time.monotonic() + self.args.ready_timeout
        k = 0
        while not self.first_order.is_set():
            if time.monotonic() > deadline:
                return False
            symbol = self.symbols[k % len(self.symbols)]
            await self.price(symbol)
            await self.signal(symbol, -1, False)
            k += 1
            try:
                await asyncio.wait_for(self.first_order.wait(), 0.2)
            except TimeoutError:
                pass
        return True

    async def run(self) -> None:
        a = self.args
        if not await self.warm_up():
            touch(a.done, {"error": f"no ORDER NEW within {a.ready_timeout:g}s of warm-up "
                                    "signals: is the pipeline up?", **self.counts})
            self.runtime.request_stop()
            return
        warm = dict(self.counts)
        touch(a.ready, {"warmup": warm})
        total = int(a.rate * a.seconds) if a.seconds > 0 else None
        per_signal = max(1, round(a.rate / a.signal_rate))
        pacer = Pacer(a.rate)
        n, i = len(self.symbols), 0
        last_progress = time.monotonic()
        while total is None or i < total:
            pacer.wait(i)
            symbol = self.symbols[i % n]
            await self.price(symbol)
            if i % per_signal == per_signal - 1:
                await self.signal(symbol, i, True)
            i += 1
            if i % 64 == 0:
                await asyncio.sleep(0)
                if time.monotonic() - last_progress >= 1.0:
                    last_progress = time.monotonic()
                    self.ledger.flush()
                    touch(a.progress, {**self.counts, "measured_prices": i})
        self.finish(pacer, i, warm)

    def finish(self, pacer: Pacer, sent: int, warm: dict[str, int]) -> None:
        elapsed = time.monotonic() - pacer.start
        self.ledger.flush()
        touch(self.args.done, {"prices": self.counts["prices"], "signals": self.counts["signals"],
                               "measured_prices": sent, "warmup": warm, "elapsed_s": elapsed,
                               "rate": sent / elapsed if elapsed > 0 else 0.0})
        self.runtime.request_stop()

    async def stop(self) -> None:
        self.ledger.flush()


def add_arguments(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("hope-live")
    q.add_argument("--name", default="bench-injector")
    q.add_argument("--out", required=True)
    q.add_argument("--rate", type=float, required=True, help="PRICEs per second in total")
    q.add_argument("--seconds", type=float, default=10.0, help="0: until SIGTERM")
    q.add_argument("--symbols", type=int, default=400)
    q.add_argument("--signal-rate", type=float, default=1.0)
    q.add_argument("--ready")
    q.add_argument("--done")
    q.add_argument("--progress", help="counts so far, rewritten every second")
    q.add_argument("--ready-timeout", type=float, default=60.0)


def run_peer(args: argparse.Namespace, rest: list[str]) -> None:
    run_service(LiveInjector, rest, name=args.name, args=args)
