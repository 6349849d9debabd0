"""The chaos injector: publishes SIGNALs (and PRICEs for their symbols) at a steady rate through
the real proxy, and keeps its own ledger of every event it published.

It is also the run's independent observer: it subscribes to HEARTBEAT and keeps, per publisher and
epoch, the highest ``seq`` each service said it had published (``pub.seq``) and its latest bus
counters. Those high-water marks, never the audit log, say how many events exist.

Run as a service: ``python -m hope.chaos.injector --ledger L --hwm H --rate R --duration S``.
Ledger lines: ``{"event_id", "type", "symbol", "seq", "epoch"}`` per published event,
``{"refused": n, "error"}`` when a publish failed (not published, so not expected in the audit),
``{"done": n}`` at the end of the emission.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, every, run_service, subscribe

NAME = "chaos-injector"
DEFAULT_SYMBOLS = ["CHAOSABTC", "CHAOSBBTC", "CHAOSCBTC", "CHAOSDBTC", "CHAOSEBTC"]


class HighWaterMarks:
    """Per (publisher, epoch): the highest published seq heartbeats reported, and bus counters."""

    def __init__(self) -> None:
        self.marks: dict[str, dict[str, int]] = {}
        self.bus: dict[str, dict[str, dict[str, Any]]] = {}

    def observe(self, source: str, payload: dict[str, Any]) -> None:
        pub = payload.get("pub")
        if isinstance(pub, dict) and isinstance(pub.get("epoch"), str) \
                and isinstance(pub.get("seq"), int):
            epochs = self.marks.setdefault(source, {})
            epochs[pub["epoch"]] = max(epochs.get(pub["epoch"], 0), pub["seq"])
            bus = payload.get("bus")
            if isinstance(bus, dict):
                keep = {k: v for k, v in bus.items() if isinstance(v, int)}
                self.bus.setdefault(source, {})[pub["epoch"]] = keep

    def to_dict(self) -> dict[str, Any]:
        return {"marks": self.marks, "bus": self.bus, "written_at": time.time()}

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict()))
        os.replace(tmp, path)


def signal_payload(symbol: str, n: int, now: float) -> dict[str, Any]:
    """A pump SIGNAL strong enough for the alpha committee (confidence 1.0)."""
    return {"symbol": symbol, "strategy": "pump", "price": 1e-5 * (1 + (n % 100) / 1000),
            "market_ts": now, "buys_per_sec": 20.0, "delta_pct": 20.0, "window_s": 2.0,
            "n": n, "chaos": True}


class ChaosInjector(Service):
    name = NAME

    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime)
        self.args = args
        self.ledger = open(Path(args.ledger), "a", buffering=1)
        self.hwm = HighWaterMarks()
        self.symbols = args.symbols.split(",")
        self.stats = {"published": 0, "refused": 0}

    @classmethod
    def create(cls, runtime: Runtime, *, args: argparse.Namespace) -> ChaosInjector:
        return cls(runtime, args=args)

    async def send(self, event_type: str, payload: dict[str, Any]) -> None:
        try:
            env = await self.publish(event_type, payload)
        except Exception as exc:  # e.g. disk full: not published, so not expected
            self.stats["refused"] += 1
            self.ledger.write(json.dumps({"refused": self.stats["refused"], "type": event_type,
                                          "error": f"{type(exc).__name__}: {exc}"[:300]}) + "\n")
            return
        self.stats["published"] += 1
        self.ledger.write(json.dumps({"event_id": env.event_id, "type": event_type,
                                      "symbol": payload["symbol"], "seq": env.seq,
                                      "epoch": env.epoch}) + "\n")

    async def emit(self) -> None:
        args, start = self.args, time.monotonic()
        last_price: dict[str, float] = {}
        n = 0
        try:
            while time.monotonic() - start < args.duration:
                symbol = self.symbols[n % len(self.symbols)]
                now = time.time()
                if now - last_price.get(symbol, 0.0) >= args.price_interval:
                    last_price[symbol] = now
                    await self.send("PRICE", {"symbol": symbol, "price": 1e-5, "market_ts": now})
                await self.send("SIGNAL", signal_payload(symbol, n, now))
                n += 1
                delay = start + n / args.rate - time.monotonic()
                await asyncio.sleep(max(delay, 0))
        finally:  # also when SIGTERM ends the run early: the ledger says how many were sent
            self.ledger.write(json.dumps({"done": n, **self.stats}) + "\n")
            self.log.info("chaos.injector_done", signals=n, **self.stats)
            self.runtime.request_stop()

    @subscribe("HEARTBEAT", name="hwm")
    def on_heartbeat(self, env: Envelope) -> None:
        self.hwm.observe(env.source, env.payload)

    @every(0.5)
    def write_hwm(self) -> None:
        self.hwm.write(Path(self.args.hwm))

    async def start(self) -> None:
        asyncio.get_running_loop().create_task(self.emit())

    async def stop(self) -> None:
        self.write_hwm()

    def heartbeat(self) -> dict[str, Any]:
        return {"injector": dict(self.stats)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hope.chaos.injector")
    p.add_argument("--ledger", required=True)
    p.add_argument("--hwm", required=True)
    p.add_argument("--rate", type=float, default=100.0, help="SIGNALs per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of emission")
    p.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    p.add_argument("--price-interval", type=float, default=0.5, help="PRICE per symbol, seconds")
    args, rest = p.parse_known_args(argv)
    run_service(ChaosInjector, rest, args=args)


if __name__ == "__main__":
    main()
