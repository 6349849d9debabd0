"""Helpers shared by several test modules (test modules never import each other)."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import zmq
from aiohttp import web

from hope import codec
from hope.audit.canonical import GENESIS, seal
from hope.audit.config import AuditConfig
from hope.audit.writer import AuditWriter
from hope.clock import ManualClock
from hope.envelope import new_event, utc_timestamp
from hope.paths import StatePaths
from hope.venue.filters import SymbolRules

# --- the audit writer ---

def make_state() -> StatePaths:
    """A fresh state dir under /tmp (short enough for unix sockets)."""
    return StatePaths.at(tempfile.mkdtemp(dir="/tmp", prefix="hope-audit-")).ensure()


def ev(seq: int, event_type: str = "PRICE", publisher: str = "scanner", epoch: str = "e1",
       corr: str | None = None, payload: dict | None = None, parent=None, ts: str | None = None):
    """A stamped event as the bus would deliver it."""
    if payload is None:
        payload = {"symbol": "EVXBTC", "price": 1.0 + seq, "market_ts": 1.7e9 + seq}
    env = new_event(event_type, payload, source=publisher, correlation_id=corr, parent=parent,
                    timestamp=ts or f"2026-02-02T15:00:{seq % 60:02d}.{seq:06d}Z")
    env.publisher, env.epoch, env.seq, env.tseq = publisher, epoch, seq, seq
    return env


def writer(state: StatePaths, clock: ManualClock | None = None, **cfg) -> AuditWriter:
    """An AuditWriter on ``state`` with ``[audit]`` options ``cfg`` and a manual clock."""
    return AuditWriter(state, AuditConfig(**cfg), clock or ManualClock())


# --- the gateway ---

GATEWAY_TOKEN = "t" * 32


class Recorder:
    """Stands in for the bus: validates like Runtime.publish and keeps what was published."""

    def __init__(self) -> None:
        self.events = []
        self.fail = False

    async def __call__(self, event_type, payload, *, correlation_id=None):
        if self.fail:
            raise ConnectionError("bus down")
        env = new_event(event_type, payload, source="gateway", correlation_id=correlation_id)
        self.events.append(env)
        return env

    def of(self, event_type):
        return [e for e in self.events if e.event_type == event_type]


class Crash(Exception):
    """Stands in for the process dying at this point."""


class ExecutorRecorder:
    """The executor's injected publish: real envelopes (fixed timestamps honoured), kept in
    order; ``crash_on(env)`` true makes the publish raise :class:`Crash` (once), the event kept."""

    def __init__(self, crash_on=None):
        self.events = []
        self.crash_on = crash_on

    async def __call__(self, event_type, payload, parent, timestamp):
        env = new_event(event_type, payload, source="executor", parent=parent,
                        timestamp=timestamp)
        self.events.append(env)
        if self.crash_on and self.crash_on(env):
            self.crash_on = None
            raise Crash(event_type)
        return env

    def of(self, event_type, **match):
        return [e for e in self.events if e.event_type == event_type
                and all(e.payload.get(k) == v for k, v in match.items())]


def answering(fn):
    """An async reader answering ``fn(*args)``, as GatewayApp's ``last_price``/``market_now``."""
    async def read(*args):
        return fn(*args)
    return read


def write_audit(events: Path, family: str, envs) -> None:
    """Append ``envs`` to ``events/<family>.jsonl`` as a hash-chained audit family."""
    prev = GENESIS
    events.mkdir(parents=True, exist_ok=True)
    with open(events / f"{family}.jsonl", "a") as fh:
        for env in envs:
            rec = {**env.to_dict(), "prev_hash": prev}
            prev, line = seal(rec)
            fh.write(line.decode())


# --- what-if replay: recorded signals and decisions ---

T0 = 1_610_226_000.0


def ts(t: float) -> str:
    """The envelope timestamp of a market time (seconds since the epoch)."""
    return utc_timestamp(datetime.fromtimestamp(t, UTC))


def signal(symbol: str, p: float, t: float):
    """A moonbot SIGNAL at market time ``t``, stamped with that time."""
    return new_event("SIGNAL", {"symbol": symbol, "strategy": "moonbot", "price": p,
                                "market_ts": t}, source="gateway", timestamp=ts(t))


def decision(sig, action: str, reasons=()):
    """The live DECISION on ``sig`` (BUY or SKIP with ``reasons``)."""
    return new_event("DECISION", {"symbol": sig.payload["symbol"], "action": action,
                                  "confidence": 0.6, "reasons": list(reasons),
                                  "position_size": 0.001 if action == "BUY" else 0.0,
                                  "targets": {}, "config_hash": "cfg:live"},
                     source="decision-engine", parent=sig, timestamp=sig.timestamp)


# --- Telegram: a local stand-in for the Bot API ---

TELEGRAM_TOKEN = "123456:SECRET-bot-token"


class FakeTelegram:
    """A local Bot API: records sendMessage calls; ``fail`` makes it answer an error."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.paths: list[str] = []
        self.fail: int | None = None
        self.retry_after: int | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def send(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if self.fail:
            body = {"ok": False, "error_code": self.fail, "description": "Too Many Requests"
                    if self.fail == 429 else "Bad Request: chat not found"}
            if self.retry_after:
                body["parameters"] = {"retry_after": self.retry_after}
            return web.json_response(body, status=self.fail)
        msg = await request.json()
        self.messages.append(msg)
        return web.json_response({"ok": True, "result": {"message_id": len(self.messages)}})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"/bot{TELEGRAM_TOKEN}/sendMessage", self.send)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def fill(i: int = 0):
    """A FILL of order ``hope-<i>``."""
    return new_event("FILL", {"symbol": "EVXBTC", "order_id": f"hope-{i}", "filled_qty": 10.0,
                              "avg_price": 1.5e-05, "commission": 1.5e-07,
                              "commission_asset": "BTC"}, source="executor")


class FakePub:
    """A bus PUB for unit tests: records what is sent, whole messages (``send_multipart``) or
    frame by frame."""

    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []
        self._partial: list[bytes] = []

    def send_multipart(self, frames: list[bytes]) -> None:
        self.sent.append(list(frames))

    def send(self, frame: bytes, flags: int = 0) -> None:
        self._partial.append(frame)
        if not flags & zmq.SNDMORE:
            self.sent.append(self._partial)
            self._partial = []

    def alerts(self) -> list[dict]:
        """The payloads of the ALERTs sent."""
        return [codec.decode(f[1]).payload for f in self.sent if f[0].startswith(b"ALERT.")]


# --- the live venue ---

def nas_btc_rules() -> SymbolRules:
    """NAS/BTC-like filters: 8-decimal tick, whole-unit lots, 0.0001 BTC minimum notional."""
    return SymbolRules(symbol="NASBTC", base="NAS", quote="BTC", tick_size=Decimal("0.00000001"),
                       min_price=Decimal("0.00000001"), max_price=Decimal("1000"),
                       step_size=Decimal("1"), min_qty=Decimal("1"),
                       max_qty=Decimal("92141578"), min_notional=Decimal("0.0001"))


# --- /metrics ---

def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, whatever the label order."""
    for m in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if found == labels:
            return float(m.group(2))
    return None


# --- the runtime ---

class EagerBus:
    """Wraps an in-process bus with ``deliver_to``, as the ZeroMQ bus has: the test plays the
    socket reader by calling ``reader(env)``."""

    def __init__(self, bus):
        self.inner = bus
        self.reader = None

    def deliver_to(self, fn):
        self.reader = fn

    def __getattr__(self, name):
        return getattr(self.inner, name)
