"""``dashboard``: the operator's live view in a browser (HTTP on 127.0.0.1, ``[dashboard]``).

Subscribes PRICE, SIGNAL, DECISION, ORDER, FILL, CLOSE (the charts), HEARTBEAT (services, hosts,
rates, the live feed, the gateway's address), HEALTH, TRADING_STATE, CONTROL, BREAKER,
DEAD_LETTER and ALERT; publishes nothing. Every event is folded into the
:class:`~hope.dashboard.model.DashboardModel` and its updates are pushed to the open pages
(server-sent events). At start, after the bus handshake, the audit log's history is folded in
(repeats of live events dropped by id) and the pages are told to take a fresh snapshot.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from hope.audit.reader import open_reader
from hope.audit.trace import trace
from hope.dashboard.auth import load_read_token
from hope.dashboard.history import fold, merged
from hope.dashboard.http import DashboardHttp
from hope.dashboard.model import DashboardModel, record_of
from hope.dashboard.stream import UpdateLog
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, subscribe
from hope.trading.state import TradingStateStore

TOPICS = ("PRICE", "SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE", "HEARTBEAT", "HEALTH",
          "TRADING_STATE", "CONTROL", "BREAKER", "DEAD_LETTER", "ALERT")


class DashboardService(Service):
    name = "dashboard"

    def __init__(self, runtime: Runtime, *, token: str, model: DashboardModel | None = None
                 ) -> None:
        super().__init__(runtime)
        self.cfg = runtime.config.dashboard
        self.model = model or DashboardModel(self.cfg, clock=self.clock.time)
        self.updates = UpdateLog(self.cfg.replay_items)
        self.gateway_base: str | None = self.cfg.gateway_url or None
        self.resume_allowed = bool(getattr(runtime.config.gateway, "allow_http_resume", False))
        self.http = DashboardHttp(self.cfg, token, self.updates, self.snapshot, self.trace_of,
                                  lambda: self.gateway_base, self.resume_allowed)
        self.port = 0
        self.endpoints: dict[str, str] = {}
        self.history = {"records": 0, "changed": 0, "warnings": 0, "seconds": 0.0}

    @classmethod
    def create(cls, runtime: Runtime, *, token: str | None = None) -> DashboardService:
        if token is None:
            cfg = runtime.config.dashboard
            token, where, warnings = load_read_token(runtime.state.keys, cfg.read_token_file)
            for w in warnings:
                runtime.log.warning("dashboard token", detail=w)
            runtime.log.info("dashboard token", token_from=where)
        return cls(runtime, token=token)

    def snapshot(self) -> dict[str, Any]:
        return {**self.model.snapshot(), "controls": self.controls()}

    def controls(self) -> dict[str, Any]:
        return {"resume_allowed": self.resume_allowed, "gateway": self.gateway_base}

    async def setup(self) -> None:
        store = TradingStateStore(self.state.trading_state)
        state = await asyncio.to_thread(store.load)
        self.model.panels.set_trading(state, by="trading_state file")
        self.port = await self.http.start()
        base = f"http://{self.cfg.host}:{self.port}"
        self.endpoints = {"dashboard": f"{base}/", "stream": f"{base}/api/stream"}
        self.log.info("dashboard listening", host=self.cfg.host, port=self.port)

    async def start(self) -> None:
        if self.cfg.catch_up:
            await self.catch_up()

    async def catch_up(self) -> None:
        """Fold the audit log's history in; open pages then reload their snapshot."""
        started = self.clock.monotonic()
        reader = open_reader(self.state)
        records = await asyncio.to_thread(merged, reader.records, None, None,
                                          self.cfg.max_prices_per_symbol)
        warnings = reader.warnings
        changed = fold(self.model, records)
        elapsed = self.clock.monotonic() - started
        self.history = {"records": len(records), "changed": changed,
                        "warnings": len(warnings), "seconds": round(elapsed, 3)}
        for w in warnings[:20]:
            self.log.warning("dashboard history", detail=w)
        self.log.info("dashboard history folded", **self.history)
        self.updates.append([{"kind": "resync"}])

    @subscribe(lambda self: TOPICS, idempotent=True)
    def on_event(self, env: Envelope) -> None:
        """Fold an event into the model and queue the pages' updates. Idempotent: the model
        drops an event whose id it has folded (``DashboardModel.apply``; a restart folds the
        audit log's history first), so the same event again changes nothing."""
        if env.event_type == "HEARTBEAT" and env.source == "gateway" and not self.cfg.gateway_url:
            self._gateway_from(env.payload)
        self.updates.append(self.model.apply(record_of(env)))

    def _gateway_from(self, payload: dict[str, Any]) -> None:
        trading = (payload.get("endpoints") or {}).get("trading")
        if isinstance(trading, str) and "/v1/" in trading:
            base = trading.split("/v1/", 1)[0]
            if base != self.gateway_base:
                self.gateway_base = base
                self.updates.append([{"kind": "controls", "controls": self.controls()}])

    async def trace_of(self, cid: str) -> list[dict[str, Any]]:
        hops = await asyncio.to_thread(trace, open_reader(self.state), cid)
        return [asdict(h) for h in hops]

    async def stop(self) -> None:
        self.http.kill()
        await self.http.stop()

    def kill(self) -> None:
        self.http.kill()

    def heartbeat(self) -> dict[str, Any]:
        return {"http_port": self.port, "endpoints": self.endpoints, "dashboard": {**self.http.counts,
                                                  "open_streams": len(self.http.streams),
                                                  "updates": self.updates.last,
                                                  "history": self.history}}
