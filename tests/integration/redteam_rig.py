"""The red team's rig: one real HOPE system in a temp state dir, a market feed, an attacker.

``System`` starts proxy, audit-writer, decision-engine, executor, gateway, health-monitor and
``Feed`` (this file run as a script: PRICE as the market-data publisher ``scanner``) and reads
what they report (registry, audit log, quarantine, paper book, HTTP). ``Attacker`` is a
same-user process on the bus: raw pyzmq sockets on ``run/bus-in.sock`` and ``bus-out.sock``;
without privilege separation it can read any service's event key in ``state/keys/``, so it
forges with the key of the service it impersonates unless a test says otherwise (``key=None``:
no auth frame at all; ``key="gateway"``: another principal's key).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import zmq

from hope import codec
from hope.authority import event_principals
from hope.chaos.faults import read_registry
from hope.envelope import new_event
from hope.eventauth.keys import init_principals
from hope.health.metrics import refusals
from hope.runtime import Runtime
from hope.service import Service, every, run_service
from hope.testing import Processes, read_jsonl, seal_frames, short_tmpdir, wait_for
from hope.trading.state import TradingStateStore

T0 = 1_700_000_000.0           # the feed's market time at its start; 1 market s per wall s
FEED_SYMBOLS = ("GENABTC", "GENBBTC", "GENCBTC", "GENDBTC", "EVXBTC")
SIZE_BTC = 0.001               # [decision] position_size.BTC (the default)
CONFIG = """\
[bus]
max_message_bytes = 65536
replay_max_bytes = 65536
replay_burst = 5
replay_rate_per_s = 1.0

[gateway]
port = 0
notify = false

[health]
port = 0

[decision]
cooldown_s = 0.0
timeout_s = 3.0
audit_max_lag_s = 5.0
"""


# --- the market feed process ---------------------------------------------------------------

class Feed(Service):
    """PRICE for FEED_SYMBOLS every 0.2 s as the market-data publisher, market time advancing
    with the wall clock."""

    name = "scanner"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.began, self.tick = time.monotonic(), itertools.count()

    @every(0.2)
    async def publish_prices(self) -> None:
        ts = T0 + (time.monotonic() - self.began)
        i = next(self.tick)
        for symbol in FEED_SYMBOLS:
            await self.publish("PRICE", {"symbol": symbol, "market_ts": ts,
                                         "price": 1e-5 * (1 + 0.001 * (i % 3))})


# --- the rig -------------------------------------------------------------------------------

class System:
    def __init__(self) -> None:
        self.state = short_tmpdir("hope-rt-")
        self.config = self.state / "hope.toml"
        self.config.write_text(CONFIG)
        init_principals(self.state / "keys", event_principals())  # as `hope keys init` does
        self.procs = Processes(self.state, env={"HOPE_CONFIG": str(self.config)})
        self.tokens: dict[str, str] = {}

    def start(self) -> None:
        self.procs.proxy()
        for key, module in (("audit-writer", "audit_writer"), ("executor", "executor"),
                            ("decision-engine", "decision_engine"), ("gateway", "gateway"),
                            ("health-monitor", "health_monitor")):
            self.procs.service(key, module)
        self.procs.start("scanner", [__file__])  # this module: the Feed service
        wait_for(lambda: all(self.progress(s) for s in (
            "audit-writer", "executor", "decision-engine", "gateway", "scanner", "proxy")),
            timeout=60, message="every service heartbeating in the registry")
        for scope in ("signals", "read", "control"):
            self.tokens[scope] = (self.state / "keys" / f"gateway-{scope}.token").read_text() \
                .strip()

    def entry(self, service: str) -> dict[str, Any]:
        return (read_registry(self.state).get("services") or {}).get(service) or {}

    def progress(self, service: str) -> dict[str, Any]:
        return self.entry(service).get("progress") or {}

    def refused(self, service: str, reason: str) -> float:
        return refusals(self.progress(service)).get(reason, 0.0)

    def alive(self, *keys: str) -> bool:
        return all(self.procs.procs[k].poll() is None for k in keys)

    def audited(self, predicate: Any) -> list[dict[str, Any]]:
        out = []
        for path in sorted((self.state / "events").glob("*.jsonl")):
            out.extend(r for r in read_jsonl(path) if predicate(r))
        return out

    def quarantined(self, service: str) -> list[dict[str, Any]]:
        path = self.state / "quarantine" / f"{service}.bin"
        data, out, pos = (path.read_bytes() if path.exists() else b""), [], 0
        while pos < len(data):
            size = int.from_bytes(data[pos:pos + 4], "big")
            out.append(codec.decode_obj(data[pos + 4:pos + 4 + size]))
            pos += 4 + size
        return out

    def book(self) -> list[dict[str, Any]]:
        return read_jsonl(self.state / "exchange" / "orders.jsonl")

    def http(self, service: str, method: str, path: str, scope: str | None = None,
             body: Any = None, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> tuple[int, Any, Any]:
        port = self.entry(service).get("http_port")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     method=method, headers={"Content-Type": "application/json",
                                                             **(headers or {})})
        if scope:
            req.add_header("Authorization", f"Bearer {self.tokens[scope]}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, text, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, text, hdrs = exc.code, exc.read(), exc.headers
        try:
            return status, json.loads(text), hdrs
        except ValueError:
            return status, text.decode(errors="replace"), hdrs

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """``hope ARGS`` against this system, as the operator runs it."""
        return subprocess.run([str(Path(sys.executable).parent / "hope"), *args, "--state-dir",
                               str(self.state)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "HOPE_CONFIG": str(self.config)})

    def trading_state(self) -> str:
        return TradingStateStore(self.state / "trading_state").load()

    def market_now(self) -> float:
        return max(r["payload"]["market_ts"] for r in self.audited(
            lambda r: r.get("event_type") == "PRICE"))

    def close(self) -> None:
        self.procs.kill_all()
        if not os.environ.get("HOPE_TEST_KEEP_STATE"):
            import shutil
            shutil.rmtree(self.state, ignore_errors=True)


class Attacker:
    """A same-user process on the bus: raw PUB on bus-in, SUB on bus-out, its own epoch."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 1000)
        self.pub.connect(f"ipc://{state}/run/bus-in.sock")
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.connect(f"ipc://{state}/run/bus-out.sock")
        self.epoch, self.seq = os.urandom(6).hex(), itertools.count(1)
        hello = f"HELLO.{self.epoch}".encode()
        self.sub.setsockopt(zmq.SUBSCRIBE, hello)
        deadline = time.monotonic() + 30
        while True:  # the bus handshake: our probe back through the proxy = subscriptions known
            assert time.monotonic() < deadline, "attacker: no HELLO back from the proxy"
            self.pub.send_multipart([hello, b""])
            if self.sub.poll(50):
                self.sub.recv_multipart()
                break

    def forge(self, event_type: str, payload: dict[str, Any], source: str, *,
              key: str | None = "", **fields: Any) -> tuple[Any, list[bytes]]:
        """A valid-looking event (valid content id), stamped as ``source`` with our epoch and
        sealed with ``key``'s event key (default: ``source``'s; None: no auth frame)."""
        env = new_event(event_type, payload, source=source)
        n = next(self.seq)
        env = msgspec.structs.replace(env, publisher=source, epoch=self.epoch, seq=n, tseq=n)
        if fields:
            env = msgspec.structs.replace(env, **fields)
        frames = [env.topic.encode(), codec.encode(env)]
        signer = source if key == "" else key
        return env, seal_frames(self.state, signer, frames) if signer else frames

    def listen(self, prefix: bytes) -> None:
        self.sub.setsockopt(zmq.SUBSCRIBE, prefix)

    def capture(self, prefix: bytes, timeout: float = 30.0) -> list[bytes]:
        """The next genuine frames on ``prefix`` as they travel (auth frame included); call
        :meth:`listen` first to catch one sent before this call."""
        self.listen(prefix)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.sub.poll(100):
                    frames = self.sub.recv_multipart()
                    if frames[0].startswith(prefix):
                        return frames
            raise AssertionError(f"attacker: nothing on {prefix!r} within {timeout:g}s")
        finally:
            self.sub.setsockopt(zmq.UNSUBSCRIBE, prefix)

    def send(self, frames: list[bytes]) -> None:
        self.pub.send_multipart(frames)

    def close(self) -> None:
        self.ctx.destroy(linger=0)


if __name__ == "__main__":
    run_service(Feed, sys.argv[1:])
