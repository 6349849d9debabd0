"""The stand-in's own endpoints (not the venue's), under ``/sim/v1``: what it has served and
faults on demand, for tests and rehearsals. Never weighed, never faulted.

Wire::

    GET  /sim/v1/status
    <- {"symbols": {"EVXBTC": {"published": 120, "last_id": 120, "total": 44316,
                               "status": "TRADING"}},
        "connections": 1, "accepted": 3, "faults_fired": [["drop", "EVXBTC", 50]],
        "rest": {"requests": 7, "by_path": {"/api/v3/aggTrades": 5}, "refused": {"429": 1},
                 "used_weight": 40},
        "trading": {"orders": 3, "open": 0, "trades": 3, "user_streams": 1,
                    "events_sent": 6, "faults_fired": ["hold after hope-1"]}}
    POST /sim/v1/fault   {"kind": "drop" | "shutdown" | "outage" | "stall" | "bad_json",
                          "seconds": 10}
    <- {"result": "ok", "connections": 2}          (acts now, on every connection)
    POST /sim/v1/status  {"symbol": "GVTBTC", "status": "BREAK"}
    <- {"result": "ok"}
    POST /sim/v1/market  {"state": "closed"}       (for good: no later trade is published, the
    <- {"result": "ok", "published": {"EVXBTC": 120}}   stream goes quiet, nothing matches)
    errors: 400 {"error": "..."}
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from hope.venue_sim.faults import BAD_JSON

NOW_KINDS = ("drop", "shutdown", "outage", "stall", "bad_json")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


class AdminApi:
    def __init__(self, sim: Any) -> None:
        """``sim``: the :class:`hope.venue_sim.server.VenueSim` serving these routes (its module
        imports this one, so the type is named here, not imported)."""
        self.sim = sim

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/sim/v1/status", self.status)
        app.router.add_post("/sim/v1/fault", self.fault)
        app.router.add_post("/sim/v1/status", self.set_status)
        app.router.add_post("/sim/v1/market", self.set_market)

    async def status(self, request: web.Request) -> web.Response:
        sim = self.sim
        assert sim.market and sim.publisher and sim.streams and sim.rest and sim.info
        symbols = {}
        for sym, tape in sim.market.tapes.items():
            n = sim.publisher.published[sym]
            symbols[sym] = {"published": n, "last_id": tape.first_id + n - 1,
                            "total": len(tape.trades), "status": sim.info.status[sym]}
        rest = sim.rest
        return _json({"symbols": symbols, "connections": len(sim.streams.connections),
                      "accepted": sim.streams.accepted,
                      "faults_fired": [list(f) for f in sim.publisher.faults.fired],
                      "market": "closed" if sim.market.closed else "open",
                      "rest": {"requests": rest.requests, "by_path": dict(rest.counts),
                               "refused": {str(k): v for k, v in rest.refused.items()},
                               "used_weight": rest.limiter.current()},
                      "trading": self._trading()})

    def _trading(self) -> dict[str, Any]:
        books, ws_api = self.sim.books, self.sim.ws_api
        if books is None or ws_api is None:
            return {}
        return {"orders": len(books.orders), "open": sum(o.is_open for o in books.orders),
                "trades": len(books.trades), "user_streams": sum(
                    1 for c in ws_api.connections if c.subs),
                "events_sent": ws_api.events_sent,
                "faults_fired": list(self.sim.trading_faults.fired)}

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"error": "body: not JSON"}),
                                     content_type="application/json") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text=json.dumps({"error": "body: expected an object"}),
                                     content_type="application/json")
        return body

    async def set_market(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if body.get("state") != "closed":
            return _json({"error": "state: \"closed\" (a closed market stays closed)"}, 400)
        assert self.sim.market is not None
        published = self.sim.market.close()
        self.sim.log(f"market closed on demand at {sum(published.values())} trades")
        return _json({"result": "ok", "published": published})

    async def fault(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        kind, seconds = body.get("kind"), body.get("seconds", 0)
        if kind not in NOW_KINDS:
            return _json({"error": f"kind: one of {', '.join(NOW_KINDS)}"}, 400)
        if not isinstance(seconds, (int, float)) or seconds < 0:
            return _json({"error": "seconds: a number >= 0"}, 400)
        if kind == "outage" and seconds <= 0:
            return _json({"error": "seconds: an outage needs seconds > 0"}, 400)
        streams = self.sim.streams
        assert streams is not None
        conns = list(streams.connections)
        self.sim.log(f"fault {kind} on demand ({len(conns)} connections)")
        if kind == "outage":
            for task in streams.begin_outage(float(seconds)):
                self.sim.publisher.keep(task)
        elif kind == "shutdown":
            grace = self.sim.scenario.ws.shutdown_grace_s
            loop = asyncio.get_running_loop()
            self.sim.publisher.keep(loop.create_task(streams.shutdown_all(grace)))
            if self.sim.ws_api is not None:
                self.sim.publisher.keep(loop.create_task(self.sim.ws_api.shutdown_all(grace)))
        for conn in conns:
            if kind == "drop":
                self.sim.publisher.keep(conn.drop())
            elif kind == "stall":
                conn.stall(float(seconds))
            elif kind == "bad_json":
                conn.enqueue(BAD_JSON)
        return _json({"result": "ok", "connections": len(conns)})

    async def set_status(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        assert self.sim.info is not None
        try:
            self.sim.info.set_status(str(body.get("symbol")), str(body.get("status")))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"result": "ok"})
