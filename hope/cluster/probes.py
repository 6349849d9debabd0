"""Probes for a system under test (the pipeline and cluster tests, rehearsals): an injector
adding SIGNALs at a steady rate, and rogue peers trying the bus without an enrolled key.

``python -m hope.cluster.probes [--interval S] [--symbols N] [--until MARKET_TS] [--ledger FILE]
[--stop-file FILE]`` runs the injector as the service ``injector`` (its keys enrolled like any
program's).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, every, run_service, subscribe


def injector_rules(max_buys_per_min: int) -> str:
    """The config sections the injector's SIGNALs trade under, TOML to append to a test's
    config: its PRICEs move the market clock, its strategy ``inject`` is allowed (``unlisted``
    is not: a SKIP), quick exits (take-profit 5 %, stop-loss 3 %, 4 s) so positions close."""
    return f"""
[market_clock]
publishers = ["scanner", "injector"]

[decision]
strategies_allowed = ["pump", "trend", "inject"]
strategy_confidence = {{ trend = 0.6, inject = 0.8 }}
min_buys_per_sec = 1.0
min_delta_pct = 2.0
cooldown_s = 0.0
max_open_positions = 4
max_buys_per_min = {max_buys_per_min}
take_profit_pct = 5.0
stop_loss_pct = 3.0
timeout_s = 4.0
"""


class Injector(Service):
    """A PRICE + SIGNAL for ``INJ<k>BTC`` (k < ``--symbols``) every ``interval`` s at the
    scanners' market time (every fifth from a strategy the decision config does not allow: a
    SKIP); each SIGNAL's event id into ``--ledger``; nothing once the market time reaches
    ``--until`` or ``--stop-file`` exists."""

    name = "injector"

    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime)
        self.args = args
        self.latest: float | None = None
        self.counter = itertools.count()
        self.ledger = open(args.ledger, "a", buffering=1) if args.ledger else None

    @classmethod
    def create(cls, runtime: Runtime, *, args: argparse.Namespace) -> Injector:
        return cls(runtime, args=args)

    @subscribe("PRICE", idempotent=True)
    def on_price(self, env: Envelope) -> None:
        """The newest market time seen. Idempotent: a maximum does not change when the same
        PRICE comes again."""
        if not str(env.payload.get("symbol", "")).startswith("INJ"):
            self.latest = max(float(env.payload["market_ts"]), self.latest or 0.0)

    @every(lambda self: self.args.interval)
    async def inject(self) -> None:
        if self.latest is None or self.stopped(self.latest):
            return
        i = next(self.counter)
        symbol = f"INJ{i % self.args.symbols}BTC"
        price = 1e-5 * (1 + 0.02 * ((i * 7) % 5 - 2))  # moves enough to hit TP / SL
        await self.publish("PRICE", {"symbol": symbol, "price": price, "market_ts": self.latest})
        env = await self.publish("SIGNAL", {
            "symbol": symbol, "strategy": "unlisted" if i % 5 == 4 else "inject",
            "price": price, "market_ts": self.latest, "buys_per_sec": 5.0, "delta_pct": 10.0,
            "window_s": 2.0, "n": i})
        if self.ledger is not None:
            self.ledger.write(json.dumps({"event_id": env.event_id, "at": time.time()}) + "\n")

    def stopped(self, market_ts: float) -> bool:
        """Whether injection is over at ``market_ts`` (``--until``, ``--stop-file``)."""
        until, stop_file = self.args.until, self.args.stop_file
        return (until is not None and market_ts >= until) or bool(stop_file
                                                                  and Path(stop_file).exists())


ROGUE = """
import sys, time, zmq, zmq.auth
host, server_cert = sys.argv[1], sys.argv[2]
server_public, _ = zmq.auth.load_certificate(server_cert)
ctx = zmq.Context()
socks = []
for keyed in (False, True):  # one peer without CURVE, one with a key nobody enrolled
    sub, pub = ctx.socket(zmq.SUB), ctx.socket(zmq.PUB)
    for s in (sub, pub):
        if keyed:
            s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
            s.curve_serverkey = server_public
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://{host}:5602")
    pub.connect(f"tcp://{host}:5601")
    socks.append((sub, pub))
got, end = 0, time.monotonic() + 3.0
while time.monotonic() < end:
    for sub, pub in socks:
        pub.send_multipart([b"SIGNAL.ROGUEBTC", b"\\xc1 not msgpack"])
        while sub.poll(10):
            sub.recv_multipart()
            got += 1
print(got)
"""


def rogue_messages(wrap: list[str], proxy_address: str, server_cert: Path) -> int:
    """Run (under ``wrap``, e.g. another host's namespace) a peer without CURVE and one with a
    key nobody enrolled, each subscribing to everything on the proxy at ``proxy_address`` and
    publishing garbage for 3 s; the messages they received (0 when the bus holds)."""
    out = subprocess.run([*wrap, sys.executable, "-c", ROGUE, proxy_address, str(server_cert)],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"rogue peers failed: {out.stderr[-2000:]}")
    return int(out.stdout.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hope.cluster.probes")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--until", type=float, help="no SIGNAL from this market time on")
    parser.add_argument("--ledger", help="append each SIGNAL's event id here")
    parser.add_argument("--stop-file", help="no SIGNAL once this file exists")
    args, rest = parser.parse_known_args(argv)
    run_service(Injector, rest, args=args)


if __name__ == "__main__":
    main()
