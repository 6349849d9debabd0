"""The executor's CPU per PRICE: the real executor process on the real proxy, a paced stream.

``python -m hope.bench.executor_price [--rate 4000] [--seconds 8] [--positions 0] [--passes 3]``
starts the proxy and the executor (paper venue) in a temp state dir, opens ``--positions``
positions (BUY decisions on as many of the 400 symbols, targets ±50 %, a day, never hit), then
publishes PRICE for 400 symbols round-robin at ``--rate`` from this process (as ``scanner``,
paced one at a time, as row 7's injector does) and reads the executor's CPU time from
``/proc`` over the paced window: % of one core and µs per PRICE, one line per pass (fresh
processes each). ``--py-spy FILE`` records the executor during the last pass (py-spy in the
venv). docs/PERFORMANCE.md, "Round five".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hope.bench.common import Pacer
from hope.bench.harness import Harness
from hope.bench.procstat import _TICKS, cpu_s
from hope.bus.zmq import ZmqBus
from hope.envelope import new_event
from hope.testing import make_config

SYMBOLS = [f"L{i:04d}USDT" for i in range(400)]
TOML = """
[decision]
max_open_positions = 1000000000
max_buys_per_min = 1000000000

[market_clock]
publishers = ["scanner"]
"""


def decision(symbol: str, market_ts: float, i: int) -> Any:
    """A BUY whose position does not close while the price stays 1.0 (targets ±50 %, a day)."""
    return new_event("DECISION", {
        "symbol": symbol, "action": "BUY", "confidence": 1.0, "reasons": [],
        "position_size": 10.0, "config_hash": "cfg:bench", "market_ts": market_ts,
        "quote": "USDT", "i": i,
        "targets": {"take_profit_pct": 50, "stop_loss_pct": 50, "timeout_s": 86400}},
        source="decision-engine")


async def _bus(name: str, h: Harness, subscribe: tuple[str, ...] = ()) -> ZmqBus:
    bus = ZmqBus(name, make_config(h.dir, config_path=str(h.config)), recover=False,
                 journal=False, outbox=False)
    for prefix in subscribe:
        bus.subscribe(prefix)
    await bus.start()
    return bus


async def _open_positions(h: Harness, scanner: ZmqBus, n: int) -> None:
    if n <= 0:
        return
    engine = await _bus("decision-engine", h, ("FILL", "ORDER", "ALERT"))
    try:
        for i, sym in enumerate(SYMBOLS[:n]):
            scanner.publish_nowait(new_event("PRICE", {"symbol": sym, "price": 1.0,
                                                       "market_ts": time.time()},
                                             source="scanner"))
            await asyncio.sleep(0.002)
            engine.publish_nowait(decision(sym, time.time(), i))
            while True:
                env = await asyncio.wait_for(engine.inbox.get(), 30)
                if env.event_type == "FILL":
                    break
                if env.event_type != "ORDER" or env.payload.get("status") != "NEW":
                    raise RuntimeError(f"no position opened: {env.event_type} {env.payload}")
    finally:
        await engine.stop()


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of ``pid`` (the main thread and libzmq's I/O thread), user and
    system apart."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        for key, field in ((f"{name} user", 11), (f"{name} sys", 12)):
            out[key] = out.get(key, 0.0) + int(fields[field]) / _TICKS
    return out


async def _paced(scanner: ZmqBus, rate: float, seconds: float, pid: int) -> dict[str, Any]:
    total = int(rate * seconds)
    pacer = Pacer(rate)
    threads0 = thread_cpu(pid)
    cpu0, t0 = cpu_s(pid), time.monotonic()
    for i in range(total):
        pacer.wait(i)
        scanner.publish_nowait(new_event("PRICE", {"symbol": SYMBOLS[i % len(SYMBOLS)],
                                                   "price": 1.0, "market_ts": time.time()},
                                         source="scanner"))
        if i % 64 == 63:
            await asyncio.sleep(0)
    await asyncio.sleep(0.3)  # what is queued gets read
    cpu1, t1 = cpu_s(pid), time.monotonic()
    used = (cpu1 or 0.0) - (cpu0 or 0.0)
    threads = {k: round(1e6 * (v - threads0.get(k, 0.0)) / total, 1)
               for k, v in thread_cpu(pid).items()}
    return {"rate": total / (t1 - t0 - 0.3), "cpu_percent": 100 * used / (t1 - t0),
            "us_per_price": 1e6 * used / total,
            "threads": {k: v for k, v in threads.items() if v}}


async def one_pass(rate: float, seconds: float, positions: int, spy: str | None
                   ) -> dict[str, Any]:
    with Harness("exec-price", TOML) as h:
        os.environ["HOPE_CONFIG"], os.environ["HOPE_STATE_DIR"] = str(h.config), str(h.dir)
        h.procs.proxy()
        h.wait_log("proxy", "proxy_started")
        proc = h.service("executor", "executor")
        h.wait_log("executor", '"started"', 60)
        scanner = await _bus("scanner", h)
        try:
            await _open_positions(h, scanner, positions)
            spying = None
            if spy:
                spying = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record",
                                           "-r", "250", "-d", str(int(seconds)), "-o", spy,
                                           "-f", "raw", "-p", str(proc.pid)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out = await _paced(scanner, rate, seconds, proc.pid)
            if spying is not None:
                spying.wait(seconds + 30)
        finally:
            await scanner.stop()
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hope.bench.executor_price")
    parser.add_argument("--rate", type=float, default=4000.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--positions", type=int, default=0)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--py-spy", dest="spy", help="record the last pass's executor here")
    a = parser.parse_args(argv)
    for k in range(a.passes):
        spy = a.spy if k == a.passes - 1 else None
        r = asyncio.run(one_pass(a.rate, a.seconds, a.positions, spy))
        print(f"pass {k + 1}: {r['rate']:,.0f} PRICE/s, executor {r['cpu_percent']:.1f} % of a "
              f"core, {r['us_per_price']:.1f} µs per PRICE ({a.positions} positions open); "
              f"µs per PRICE by thread: {r['threads']}", flush=True)


if __name__ == "__main__":
    main()
