"""µs per PRICE through a real bus's receive path into the real executor, in-process.

``python -m hope.bench.receive_frames [--n 4000] [--batch 1] [--passes 7]``: a ZeroMQ bus
named ``executor`` (started on a real proxy, with its consumer journal) and the executor
service on the runtime, handler loop running; PRICE frames for 400 symbols sealed by a
``scanner`` bus as it sends them are handed to the bus's frame handler (``ZmqBus._on_frames``:
the checks on arrival, the event gate, stream cursors, dispatch, the market clock, the executor's
``on_price``) and every ``--batch`` frames a read batch ends (the journal's coverage). The
thread's CPU time per frame, the best of ``--passes`` passes (fresh frames each); socket reads
and waking up are left out (``hope.bench.executor_price`` measures those with the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from hope import codec
from hope.bench.harness import Harness
from hope.bus.zmq import ZmqBus
from hope.envelope import new_event
from hope.execution.service import ExecutorService
from hope.runtime import Runtime, default_middleware
from hope.service import build
from hope.testing import make_config

SYMBOLS = [f"L{i:04d}USDT" for i in range(400)]
TOML = '[market_clock]\npublishers = ["scanner"]\n'


def sealed_prices(pub: ZmqBus, n: int) -> list[list[bytes]]:
    """``n`` PRICE frames as ``pub`` would send them: stamped, encoded, sealed."""
    out = []
    for i in range(n):
        env = pub.sequencer.stamp(new_event("PRICE", {
            "symbol": SYMBOLS[i % len(SYMBOLS)], "price": 1.0, "market_ts": time.time()},
            source="scanner"))
        pub.sequencer.commit(env)
        body = codec.encode(env)
        out.append([env.topic.encode(), body, pub.gate.seal(body)])  # type: ignore[union-attr]
    return out


def timed(bus: ZmqBus, frames: list[list[bytes]], batch: int) -> float:
    # as a read batch ends (hope.bus.reader: the coverage at most every COVERAGE_EVERY_S)
    on_frames, flush = bus._on_frames, getattr(bus, "_flush_when_due", bus.flush_journal)
    t0 = time.thread_time_ns()
    for k, f in enumerate(frames, 1):
        on_frames(f)
        if k % batch == 0:
            flush()
    flush()
    return (time.thread_time_ns() - t0) / len(frames) / 1e3


async def measure(n: int, batch: int, passes: int) -> float:
    with Harness("recv-frames", TOML) as h:
        os.environ["HOPE_CONFIG"], os.environ["HOPE_STATE_DIR"] = str(h.config), str(h.dir)
        h.procs.proxy()
        h.wait_log("proxy", "proxy_started")
        config = make_config(h.dir, config_path=str(h.config))
        pub = ZmqBus("scanner", config, outbox=False)
        bus = ZmqBus("executor", config)
        rt = Runtime("executor", config, bus, middleware=default_middleware(bus))
        svc = await build(ExecutorService, rt)
        task = asyncio.create_task(rt.run())
        while not rt._eager:
            await asyncio.sleep(0.01)
        best = float("inf")
        try:
            for _ in range(passes):
                frames = sealed_prices(pub, n)
                await asyncio.sleep(0)
                best = min(best, timed(bus, frames, batch))
                await asyncio.sleep(0.05)
            handled = rt.handler_stats["on_price"].count
            assert handled == n * passes, f"{handled} of {n * passes} PRICEs handled"
        finally:
            rt.request_stop()
            await task
            del svc
        return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hope.bench.receive_frames")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--passes", type=int, default=7)
    a = parser.parse_args(argv)
    us = asyncio.run(measure(a.n, a.batch, a.passes))
    print(f"PRICE through ZmqBus._on_frames into the executor, read batches of {a.batch}: "
          f"{us:.2f} µs (best of {a.passes} passes of {a.n})")


if __name__ == "__main__":
    main()
