"""Measure the live feed against ``hope venue-sim``: ``python -m hope.feed.measure``.

Three figures, each against a fresh stand-in process on 127.0.0.1 serving a synthetic symbol
(timestamps re-based to wall time, so lag = wall at hand-over minus trade time):

- ``throughput``: the offered rate is raised until the feed's lag p99 exceeds 1 s; reports the
  highest rate held, with the feed process's CPU share (trades per CPU second = per core);
- ``outage``: at a realistic rate the venue is unreachable for 10 s (connections cut, 503s);
  reports the time from the reconnect to caught up (the hole's backfill done);
- ``lag``: p50/p99 of wall minus trade time at a realistic rate.

Prints one JSON object. Takes about a minute; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hope.feed.config import BinanceConfig
from hope.feed.feed import LiveFeed

HEADER = "timestamp,id,side,price,amount,cost,is_buyer_maker\n"


def write_market(path: Path, n: int, step_s: float) -> Path:
    rows = [HEADER] + [f"{int((1.6e9 + i * step_s) * 1000)},{i + 1},{'buy' if i % 2 else 'sell'},"
                       f"0.0001,{1 + i % 7},0.0001,{'false' if i % 2 else 'true'}\n"
                       for i in range(n)]
    path.write_text("".join(rows))
    return path


def start_venue(data: Path, tmp: Path, *flags: str) -> tuple[subprocess.Popen, int]:
    port_file = tmp / f"port-{time.monotonic_ns()}"
    hope = Path(sys.executable).parent / "hope"
    proc = subprocess.Popen([str(hope), "venue-sim", "--data", str(data),
                             "--port", "0", "--port-file", str(port_file), "--rebase-now",
                             "--skip", "1", *flags], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"venue-sim exited {proc.returncode}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("venue-sim did not start")


async def run_feed(port: int, tape: Path, seconds: float, **over: Any) -> dict[str, Any]:
    cfg = BinanceConfig(ws_url=f"ws://127.0.0.1:{port}", rest_url=f"http://127.0.0.1:{port}",
                        symbols=["MEASBTC"], warmup_s=1.0, **over)
    marks: dict[str, float] = {}

    async def on_event(kind: str, payload: dict[str, Any]) -> None:
        if kind == "reconnect":
            marks.setdefault("reconnect", time.monotonic())
        if kind == "backfilled" and "reconnect" in marks:
            marks.setdefault("caught_up", time.monotonic())

    feed = LiveFeed(cfg, tape, on_event=on_event)
    await feed.start()
    n, cpu0, t0 = 0, time.process_time(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        try:
            batch = await asyncio.wait_for(feed.next_batch(), 0.5)
        except TimeoutError:
            continue
        n += sum(1 for i in batch if i.live)
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    progress = feed.progress()
    await feed.stop()
    out = {"trades": n, "rate": round(n / wall), "cpu_share": round(cpu / wall, 2),
           "per_cpu_s": round(n / cpu) if cpu else None, "lag_s": progress["lag_s"],
           "backfilled": progress["backfilled_trades"]}
    if "caught_up" in marks:
        out["reconnect_to_caught_up_s"] = round(marks["caught_up"] - marks["reconnect"], 3)
    return out


async def measure(tmp: Path, rates: list[int], realistic: int) -> dict[str, Any]:
    result: dict[str, Any] = {"throughput": []}
    for rate in rates:
        data = write_market(tmp / f"binance_MEASBTC_aggtrades_{rate}.csv", rate * 12, 1.0 / rate)
        proc, port = start_venue(data, tmp)
        try:
            r = await run_feed(port, tmp / f"tape-{rate}", 8.0)
        finally:
            proc.terminate()
            proc.wait(10)
        result["throughput"].append({"offered": rate, **r})
        if (r["lag_s"]["p99"] or 0) > 1.0:
            break
    data = write_market(tmp / "binance_MEASBTC_aggtrades_real.csv", realistic * 40,
                        1.0 / realistic)
    proc, port = start_venue(data, tmp, "--outage-at", str(realistic * 10) + ":10")
    try:
        result["outage_10s"] = await run_feed(port, tmp / "tape-outage", 30.0,
                                              backoff_max_s=2.0)
    finally:
        proc.terminate()
        proc.wait(10)
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rates", default="2000,5000,10000,15000,20000",
                   help="offered trades/s, tried in order until the lag p99 passes 1 s")
    p.add_argument("--realistic", type=int, default=50, help="trades/s for outage and lag")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hope-feed-measure-") as tmp:
        out = asyncio.run(measure(Path(tmp), [int(r) for r in args.rates.split(",")],
                                  args.realistic))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
