"""The receive path in-process: µs per event for decode and for dispatch, the two costs every
service pays per delivery (docs/PERFORMANCE.md, "The receive path: decode and dispatch").

``python -m hope.bench.receive [--n 20000] [--rounds 7]`` prints the best of ``rounds`` passes per
case. Events are real PRICE and SIGNAL envelopes, stamped as a publisher stamps them, their
timestamps 0.7 ms apart (1,500 events/s); dispatch runs through the default middleware and the
market clock on the in-process bus (no journal), as the executor receives PRICE.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hope import codec
from hope.bus.memory import InProcessBus, LocalBroker
from hope.envelope import Envelope, new_event, timestamp_seconds, utc_timestamp, validate_payload
from hope.middleware.market_clock import MarketTime
from hope.runtime import Runtime, default_middleware
from hope.strategies.base import signal_payload
from hope.testing import make_config
from hope.upcasting import major_of

SYMBOLS = [f"S{i:03d}USDT" for i in range(400)]


def events(event_type: str, n: int) -> list[Envelope]:
    """``n`` stamped envelopes of one type, 0.7 ms apart, ending now."""
    start = datetime.now(UTC) - timedelta(seconds=n * 0.0007)
    out = []
    for i in range(n):
        ts = utc_timestamp(start + timedelta(seconds=i * 0.0007))
        sym = SYMBOLS[i % len(SYMBOLS)]
        mts = 1.7e9 + i * 0.0007
        payload = ({"symbol": sym, "price": 1.0 + i % 97 / 100, "market_ts": mts}
                   if event_type == "PRICE" else
                   signal_payload("pump", sym, 1.0 + i % 97 / 100, mts, 21.5, 12.25, 2.0))
        env = new_event(event_type, payload, source="scanner", timestamp=ts)
        env.publisher, env.epoch, env.seq, env.tseq = "scanner", "0123456789ab", i + 1, i + 1
        out.append(env)
    return out


def _best(fn: Callable[[Any], Any], items: list[Any], rounds: int) -> float:
    """Best µs per item over ``rounds`` passes, in this thread's CPU time (the machine is
    shared: time spent descheduled is not the code's), passes of at most 500 items."""
    best = float("inf")
    chunks = [items[i:i + 500] for i in range(0, len(items), 500)]
    for _ in range(rounds):
        for chunk in chunks:
            t0 = time.thread_time_ns()
            for x in chunk:
                fn(x)
            best = min(best, (time.thread_time_ns() - t0) / len(chunk) / 1e3)
    return best


def decode_cases(n: int, rounds: int) -> dict[str, float]:
    prices, signals = events("PRICE", n), events("SIGNAL", n)
    pbodies, sbodies = [codec.encode(e) for e in prices], [codec.encode(e) for e in signals]
    now = time.time()

    def recv(verify_id: bool) -> Callable[[bytes], Any]:
        return lambda b: codec.decode(b, now=now, max_future_s=300.0, max_age_s=604800.0,
                                      verify_id=verify_id)
    return {
        "decode PRICE (trusted id)": _best(recv(False), pbodies, rounds),
        "decode PRICE (id verified)": _best(recv(True), pbodies, rounds),
        "decode SIGNAL (id verified)": _best(recv(True), sbodies, rounds),
        "validate_payload PRICE": _best(lambda e: validate_payload("PRICE", e.payload), prices,
                                        rounds),
        "validate_payload SIGNAL": _best(lambda e: validate_payload("SIGNAL", e.payload),
                                         signals, rounds),
        "timestamp to epoch seconds": _best(lambda e: timestamp_seconds(e.timestamp), prices,
                                            rounds),
        "major_of": _best(lambda e: major_of(e.schema_version), prices, rounds),
    }


class _NoJournalBus(InProcessBus):
    """The in-process bus without its dedupe memory: dispatch alone is measured (the journal's
    own cost is the delivery journal's)."""

    def is_done(self, handler: str, event_id: str) -> bool:
        return False

    def consumed(self, env: Envelope, handlers: list[str]) -> None:
        return None


async def _dispatch_case(handler: Callable[[Envelope], Any], n: int, rounds: int,
                         root: Path) -> float:
    best = float("inf")
    for r in range(rounds):
        bus = _NoJournalBus("executor", LocalBroker())
        rt = Runtime("executor", make_config(root / f"s{r}"), bus,
                     middleware=default_middleware(bus))
        rt.use(MarketTime(rt.market_clock, rt.config.market_clock, "PRICE"))
        rt.subscribe("PRICE", handler, name="on_price")
        rt._eager = True
        best = min(best, _best(rt._deliver, events("PRICE", n), 1))
        assert rt.timer.stats["on_price"].count == n, "every event must reach the handler"
    return best


def dispatch_cases(n: int, rounds: int) -> dict[str, float]:
    def sync_handler(env: Envelope) -> None:
        return None

    async def async_handler(env: Envelope) -> None:
        return None

    async def run() -> dict[str, float]:
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            root = Path(tmp)
            return {"dispatch PRICE, sync handler":
                    await _dispatch_case(sync_handler, n, rounds, root / "a"),
                    "dispatch PRICE, async handler":
                    await _dispatch_case(async_handler, n, rounds, root / "b")}
    return asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hope.bench.receive")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=("decode", "dispatch"))
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    if args.only != "dispatch":
        results.update(decode_cases(args.n, args.rounds))
    if args.only != "decode":
        results.update(dispatch_cases(args.n, args.rounds))
    for name, us in results.items():
        print(f"{name:32s} {us:7.2f} µs")


if __name__ == "__main__":
    main()
