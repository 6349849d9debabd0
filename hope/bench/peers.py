"""Benchmark processes: ``python -m hope.bench.peers <mode> ...``.

Raw peers (``raw-*``, ``redis-*``) are the baselines: blocking sockets, pre-built bytes of the
size of the matching HOPE event, the message index and send stamp packed in the first 16 bytes.
HOPE peers (``hope-*``) are real services on the real runtime and bus (``run_service``).
Every sender paces with :class:`hope.bench.common.Pacer`; every receiver appends one line per
message (``<id> <sent_ns> <received_ns>`` or ``<correlation_id> <received_ns> <status>``),
flushed every 100 ms and on SIGTERM, which is how the orchestrator stops receivers.
``HOPE_BENCH_PROFILE=<dir>`` runs the peer under cProfile and dumps ``<dir>/<mode>-<pid>.prof``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from hope.bench.baseline_peers import (
    FLUSH_S,
    HEADER,
    Lines,
    raw_proxy,
    raw_pub,
    raw_stage,
    raw_sub,
    redis_pub,
    redis_sub,
    resp_parse,
    touch,
)

__all__ = ["HEADER", "resp_parse"]


def _background(coro_fn: Any) -> Any:
    """An on_start hook that starts ``coro_fn()`` as a task and returns at once (returning the
    task itself would make the runtime await it before the handler loop starts)."""
    tasks: list[asyncio.Task] = []

    def start() -> None:
        tasks.append(asyncio.get_running_loop().create_task(coro_fn()))
    return start


# --- HOPE services ------------------------------------------------------------------------------

def signal_payload(symbol: str, i: int, market_ts: float, **extra: Any) -> dict[str, Any]:
    """A pump SIGNAL the benchmark decision config accepts (flow fields at twice the minimum)."""
    return {"symbol": symbol, "strategy": "pump", "price": 1.0, "market_ts": market_ts,
            "buys_per_sec": 10.0, "delta_pct": 10.0, "window_s": 5.0, "i": i, **extra}


def hope_pub(a: argparse.Namespace, rest: list[str]) -> None:
    from hope.bench.common import Pacer
    from hope.runtime import run_service

    def setup(svc: Any) -> None:
        async def emit() -> None:
            await asyncio.sleep(a.settle)
            total = a.warmup + a.count
            pacer = Pacer(a.rate)
            monotonic_ns, publish = time.monotonic_ns, svc.publish
            market_ts = time.time()
            for i in range(total):
                pacer.wait(i)  # blocking sleep: same pacing as the raw peers
                await publish("SIGNAL", signal_payload(a.symbol, i, market_ts, t0=monotonic_ns()))
                if i % 256 == 255:
                    await asyncio.sleep(0)  # let the bus reader run now and then
            elapsed = time.monotonic() - pacer.start
            touch(a.done, {"sent": total, "elapsed_s": elapsed, "rate": total / elapsed})
            svc.request_stop()

        svc.on_start(_background(emit))
    run_service(a.name, setup, rest)


def hope_sub(a: argparse.Namespace, rest: list[str]) -> None:
    from hope.runtime import run_service

    def setup(svc: Any) -> None:
        out = Lines(a.out)
        monotonic_ns = time.monotonic_ns

        def on_event(env: Any) -> None:
            now = monotonic_ns()
            p = env.payload
            out.add(f"{p['i']} {p['t0']} {now}\n")

        svc.subscribe(a.prefix, on_event, name="bench")
        svc.every(FLUSH_S, out.flush)
        svc.on_start(lambda: touch(a.ready))
        svc.on_stop(out.flush)
    run_service(a.name, setup, rest)


def hope_sink(a: argparse.Namespace, rest: list[str]) -> None:
    """Receives ORDERs: ``<correlation_id> <received_ns> <status>`` per line."""
    from hope.runtime import run_service

    def setup(svc: Any) -> None:
        out = Lines(a.out)
        monotonic_ns = time.monotonic_ns

        def on_order(env: Any) -> None:
            out.add(f"{env.correlation_id} {monotonic_ns()} {env.payload.get('status')}\n")

        svc.subscribe("ORDER", on_order, name="bench")
        svc.every(FLUSH_S, out.flush)
        svc.on_start(lambda: touch(a.ready))
        svc.on_stop(out.flush)
    run_service(a.name, setup, rest)


def hope_inject(a: argparse.Namespace, rest: list[str]) -> None:
    """PRICE then SIGNAL per symbol (a fresh symbol each time, so no position rule interferes),
    paced. First a warm-up until one ORDER NEW comes back (the pipeline is up: the decision
    engine has heard the audit watermark), then ``count`` measured signals; the ledger holds
    ``<correlation_id> <sent_ns>`` per measured signal."""
    from hope.bench.common import Pacer
    from hope.runtime import run_service

    def setup(svc: Any) -> None:
        first_order = asyncio.Event()
        ledger = Lines(a.out)
        market = [time.time()]
        counts = {"signals": 0, "prices": 0}

        def on_order(env: Any) -> None:
            if env.payload.get("status") == "NEW":
                first_order.set()

        async def one(symbol: str, i: int, record: bool) -> None:
            market[0] += 0.001
            await svc.publish("PRICE", {"symbol": symbol, "price": 1.0, "market_ts": market[0]})
            t0 = time.monotonic_ns()
            env = await svc.publish("SIGNAL", signal_payload(symbol, i, market[0]))
            counts["prices"] += 1
            counts["signals"] += 1
            if record:
                ledger.add(f"{env.correlation_id} {t0}\n")

        async def run() -> None:
            deadline = time.monotonic() + a.ready_timeout
            k = 0
            while not first_order.is_set():
                if time.monotonic() > deadline:
                    touch(a.done, {"error": f"no ORDER NEW within {a.ready_timeout:g}s of "
                                             "warm-up signals: is the pipeline up?", **counts})
                    svc.request_stop()
                    return
                await one(f"W{k:06d}USDT", -1, False)
                k += 1
                try:
                    await asyncio.wait_for(first_order.wait(), 0.2)
                except TimeoutError:
                    pass
            total = a.warmup + a.count
            pacer = Pacer(a.rate)
            t_start = pacer.start
            for i in range(total):
                pacer.wait(i)
                await one(f"S{i:07d}USDT", i, i >= a.warmup)
                if i == a.warmup:
                    t_start = time.monotonic()
                if i % 64 == 63:
                    await asyncio.sleep(0)
            elapsed = time.monotonic() - t_start
            ledger.flush()
            touch(a.done, {"sent": a.count, "elapsed_s": elapsed,
                            "rate": a.count / elapsed if elapsed > 0 else 0.0,
                            "warmup_signals": k + a.warmup, **counts})
            svc.request_stop()

        svc.subscribe("ORDER", on_order, name="bench-ready")
        svc.on_start(_background(run))
        svc.on_stop(ledger.flush)
    run_service(a.name, setup, rest)


# --- entry ---------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hope.bench.peers")
    sub = p.add_subparsers(dest="mode", required=True)

    def sender(q: argparse.ArgumentParser) -> None:
        q.add_argument("--rate", type=float, required=True)
        q.add_argument("--count", type=int, required=True)
        q.add_argument("--warmup", type=int, default=0)
        q.add_argument("--settle", type=float, default=0.3)
        q.add_argument("--done")

    q = sub.add_parser("raw-proxy")
    q.add_argument("--xsub", required=True)
    q.add_argument("--xpub", required=True)
    q.add_argument("--hwm", type=int, default=0)
    q.add_argument("--ready")
    for mode in ("raw-pub", "raw-sub", "raw-stage"):
        q = sub.add_parser(mode)
        q.add_argument("--xsub")
        q.add_argument("--xpub")
        q.add_argument("--hwm", type=int, default=0)
        q.add_argument("--topic", default="SIGNAL.EVXBTC")
        q.add_argument("--size", type=int, default=450)
        q.add_argument("--out")
        q.add_argument("--ready")
        q.add_argument("--in-topic", action="append", help="repeatable (raw-stage)")
        q.add_argument("--emit", action="append", help="TRIGGER=TOPIC:SIZE[,...] (raw-stage)")
        q.add_argument("--log", help="append every message received (raw-stage)")
        q.add_argument("--counts", help="messages received per type, JSON (raw-stage)")
        if mode == "raw-pub":
            q.add_argument("--pre-topic", help="send one message on this topic before each")
            q.add_argument("--pre-size", type=int, default=0)
            sender(q)
    for mode in ("redis-pub", "redis-sub"):
        q = sub.add_parser(mode)
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--topic", default="SIGNAL.EVXBTC")
        q.add_argument("--size", type=int, default=450)
        q.add_argument("--out")
        q.add_argument("--ready")
        if mode == "redis-pub":
            sender(q)
    q = sub.add_parser("hope-pub")
    q.add_argument("--name", default="bench-pub")
    q.add_argument("--symbol", default="EVXBTC")
    sender(q)
    for mode in ("hope-sub", "hope-sink"):
        q = sub.add_parser(mode)
        q.add_argument("--name", default="bench-sub" if mode == "hope-sub" else "bench-sink")
        q.add_argument("--prefix", default="SIGNAL")
        q.add_argument("--out", required=True)
        q.add_argument("--ready")
    q = sub.add_parser("hope-inject")
    q.add_argument("--name", default="bench-injector")
    q.add_argument("--out", required=True)
    q.add_argument("--ready-timeout", type=float, default=60.0)
    sender(q)
    return p


RAW = {"raw-proxy": raw_proxy, "raw-pub": raw_pub, "raw-sub": raw_sub, "raw-stage": raw_stage,
       "redis-pub": redis_pub, "redis-sub": redis_sub}
HOPE = {"hope-pub": hope_pub, "hope-sub": hope_sub, "hope-sink": hope_sink,
        "hope-inject": hope_inject}


def main(argv: list[str] | None = None) -> None:
    args, rest = parser().parse_known_args(argv)
    run = (lambda: RAW[args.mode](args)) if args.mode in RAW else \
        (lambda: HOPE[args.mode](args, rest))
    profile_dir = os.environ.get("HOPE_BENCH_PROFILE")
    if not profile_dir:
        run()
        return
    import cProfile
    prof = cProfile.Profile()
    try:
        prof.runcall(run)
    finally:
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        prof.dump_stats(f"{profile_dir}/{args.mode}-{os.getpid()}.prof")


if __name__ == "__main__":
    main(sys.argv[1:])
