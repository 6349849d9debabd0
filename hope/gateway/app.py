"""The gateway's HTTP API (aiohttp): external signals in, audit/positions/report out, trading levers.

Every ``/v1`` route but the OpenAPI document needs ``Authorization: Bearer <token>`` of its scope
(:mod:`hope.gateway.auth`: signals, read, control; 401 when missing, 403 when wrong or of another
scope; compared in constant time) and is rate-limited per token (429 with ``Retry-After``);
failed logins are rate-limited per client address. ``resume`` is CLI-only unless
``allow_http_resume``. Bodies over ``max_body_bytes`` get 413. Requests for a foreign Host get
421 and every answer carries the security headers (:mod:`hope.httpguard`). Signals are bounded
and checked (:mod:`hope.gateway.signals`) and idempotent (:mod:`hope.gateway.idempotency`);
log reads are paged and cached (:mod:`hope.gateway.reads`). Every error is JSON ``{"error": ...,
"detail": ...}`` and counted per reason (``refusals`` in the heartbeat); a bug in a view is a 500
JSON and a log line, never a dead server. Accepted writes publish their event (SIGNAL, CONTROL);
accepted reads publish an ``API_REQUEST`` record, so every accepted request is audited.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import msgspec
from aiohttp import web

from hope.audit.reader import open_reader
from hope.audit.report import summarize
from hope.audit.trace import trace
from hope.clock import WallClock
from hope.control.trading import COMMAND_STATE, set_trading_state
from hope.envelope import Envelope, EnvelopeError
from hope.execution.positions import ExecutorStore
from hope.gateway import signals
from hope.gateway.auth import SCOPES, bearer, scopes_of, token_id
from hope.gateway.config import GatewayConfig
from hope.gateway.idempotency import IdempotencyCache
from hope.gateway.reads import ScanCache, page_params
from hope.gateway.signals import CORRELATION_RE, SignalRefused
from hope.httpguard import allowed_hosts, guard
from hope.paths import StatePaths
from hope.ratelimit import BucketMap
from hope.strategies.moonbot import ExternalSignalError, MoonbotStrategy
from hope.trading.state import TradingStateStore

log = logging.getLogger("hope.gateway")
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
PUBLIC = ("/v1/openapi.json",)
TOKEN_ID = web.RequestKey("token_id", str)      # the caller's token id (idempotency slots)
REFUSAL = web.ResponseKey("refusal", str)       # why an error answer refused (counters)
# (method, route) -> the token scope it needs
ROUTE_SCOPES = {("POST", "/v1/signals"): "signals", ("POST", "/v1/trading/{action}"): "control"}

# (event_type, payload, correlation_id) -> the published envelope
class Publish(Protocol):
    """``Runtime.publish``'s shape (the gateway's events start their own correlation or take
    the caller's)."""

    def __call__(self, event_type: str, payload: dict[str, Any], *,
                 correlation_id: str | None = None) -> Awaitable[Envelope]: ...


LastPrice = Callable[[str], Awaitable[tuple[float, float] | None]]  # (price, market_ts)
MarketNow = Callable[[], Awaitable[float | None]]


async def _nothing(*_: Any) -> None:
    return None


def error(status: int, message: str, detail: Any = None, *, reason: str | None = None,
          **extra: Any) -> web.Response:
    """A JSON error; ``reason`` names the refusal in the gateway's counters (else its status)."""
    body: dict[str, Any] = {"error": message, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    resp = web.json_response(body, status=status)
    resp[REFUSAL] = reason or f"http_{status}"
    return resp


class GatewayApp:
    """The API over injected dependencies, so tests run it on a real socket without a bus."""

    def __init__(self, cfg: GatewayConfig, tokens: Mapping[str, str] | str, state: StatePaths,
                 publish: Publish, *, last_price: LastPrice | None = None,
                 market_now: MarketNow | None = None, clock: WallClock | None = None,
                 live_feed: bool = False) -> None:
        """``tokens``: scope -> token (one string: the same token for every scope, tests).
        ``live_feed``: the market is live, so a SIGNAL's ``market_ts`` must also be near the
        wall clock (a replayed market's time is years in the past)."""
        self.cfg = cfg
        self._tokens = dict.fromkeys(SCOPES, tokens) if isinstance(tokens, str) else dict(tokens)
        self.state = state
        self.publish = publish
        self.last_price = last_price or _nothing
        self.market_now = market_now or _nothing
        self.clock = clock or WallClock()
        self.live_feed = live_feed
        self.limits = BucketMap(cfg.rate_limit_per_s, cfg.rate_limit_burst, self.clock)
        self.login_failures = BucketMap(1.0, 10, self.clock)
        self.idempotency = IdempotencyCache(cfg.idempotency_window_s, self.clock)
        self.moonbot = MoonbotStrategy()
        self.counts: dict[str, int] = {"requests": 0, "accepted": 0, "rejected": 0,
                                       "signals": 0, "errors": 0, "idempotent_replays": 0}
        self.refusals: Counter[str] = Counter()
        self._hosts = allowed_hosts(cfg.host, cfg.allowed_hosts)
        self._reads: ScanCache | None = None  # made on the serving loop (it holds a lock)
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    # --- app and server ----------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.cfg.max_body_bytes, middlewares=[
            guard(self._hosts, on_refused=self._count_refusal), self._guard, self._auth])
        r = app.router
        r.add_get("/v1/openapi.json", self.openapi)
        r.add_post("/v1/signals", self.post_signal)
        r.add_get("/v1/events/{correlation_id}", self.get_events)
        r.add_get("/v1/positions", self.get_positions)
        r.add_get("/v1/report", self.get_report)
        r.add_get("/v1/trading", self.get_trading)
        r.add_post("/v1/trading/{action}", self.post_trading)
        return app

    async def start(self) -> int:
        """Bind and serve; returns the port actually bound (useful with port 0)."""
        self._reads = ScanCache(self.cfg.read_cache_s, self.clock)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port)
        await site.start()
        sockets = getattr(getattr(site, "_server", None), "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.cfg.port
        return self.bound_port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def endpoints(self, host: str, port: int) -> dict[str, str]:
        base = f"http://{host}:{port}"
        return {"signals": f"{base}/v1/signals", "events": f"{base}/v1/events/{{correlation_id}}",
                "positions": f"{base}/v1/positions", "report": f"{base}/v1/report",
                "trading": f"{base}/v1/trading", "openapi": f"{base}/v1/openapi.json"}

    # --- middlewares -------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.counts["requests"] += 1
        length = request.content_length
        if length is not None and length > self.cfg.max_body_bytes:
            return self._rejected(error(413, "request body too large",
                                        limit_bytes=self.cfg.max_body_bytes))
        try:
            resp = await handler(request)
        except web.HTTPNotFound:
            return self._rejected(error(404, "not found", path=request.path))
        except web.HTTPMethodNotAllowed as exc:
            allowed = sorted(exc.allowed_methods)
            resp = error(405, "method not allowed", method=request.method, allowed=allowed)
            resp.headers["Allow"] = ", ".join(allowed)
            return self._rejected(resp)
        except web.HTTPRequestEntityTooLarge:
            return self._rejected(error(413, "request body too large",
                                        limit_bytes=self.cfg.max_body_bytes))
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug in a view must not take the gateway down
            self.counts["errors"] += 1
            log.exception("gateway handler failed")
            return error(500, "internal error", type(exc).__name__)
        if resp.status < 400:
            self.counts["accepted"] += 1
        else:
            self._rejected(resp)
        return resp

    def _count_refusal(self, reason: str) -> None:
        self.refusals[reason] += 1

    def _rejected(self, resp: web.StreamResponse) -> web.StreamResponse:
        self.counts["rejected"] += 1
        self._count_refusal(resp.get(REFUSAL) or f"http_{resp.status}")
        return resp

    @staticmethod
    def _scope_needed(request: web.Request) -> str:
        route = request.match_info.route
        path = route.resource.canonical if route.resource else request.path
        return ROUTE_SCOPES.get((request.method, path), "read")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in PUBLIC:
            return await handler(request)
        given = bearer(request.headers.get("Authorization"))
        scopes = scopes_of(given, self._tokens) if given else frozenset()
        if not scopes:
            ok, wait = self.login_failures.take("ip:" + str(request.remote))
            if not ok:
                return self._too_many(wait)
            if given is None:
                resp = error(401, "authentication required",
                             "send 'Authorization: Bearer <token>' (see docs/RUNBOOK.md)")
                resp.headers["WWW-Authenticate"] = 'Bearer realm="hope"'
                return resp
            return error(403, "invalid token", reason="bad_token")
        needed = self._scope_needed(request)
        if needed not in scopes:
            return error(403, "token lacks the scope of this route",
                         f"{request.method} {request.path} needs the {needed!r} token",
                         reason="wrong_scope", scope=needed)
        if request.match_info.get("action") == "resume" and not self.cfg.allow_http_resume:
            return error(403, "resume is CLI-only", "run `hope trading resume` on the host, "
                         "or set [gateway] allow_http_resume = true", reason="http_resume")
        ok, wait = self.limits.take(token_id(given))
        if not ok:
            return self._too_many(wait)
        request[TOKEN_ID] = token_id(given)
        return await handler(request)

    @staticmethod
    def _too_many(wait: float) -> web.Response:
        resp = error(429, "rate limit exceeded", retry_after_s=round(wait, 3),
                     reason="rate_limited")
        resp.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return resp

    async def _audit_read(self, request: web.Request, status: int) -> None:
        """Reads change nothing, but the spec wants every accepted request in the audit log."""
        payload = {"service": "gateway", "method": request.method, "path": request.path,
                   "status": status}
        try:
            await self.publish("API_REQUEST", payload)
        except Exception as exc:  # the answer is already computed; a bus hiccup is logged only
            log.warning("API_REQUEST not published: %s", exc)

    # --- views -------------------------------------------------------------------------------
    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(json.loads(OPENAPI_PATH.read_text()))

    async def post_signal(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            sig = signals.parse(raw)
        except SignalRefused as exc:
            return self._signal_refused(exc)
        key = request.headers.get("Idempotency-Key") or sig.signal_id
        if key is not None and not CORRELATION_RE.match(key):
            return error(422, "invalid signal", f"Idempotency-Key: {signals.IDS}",
                         field="Idempotency-Key")
        slot = (request.get(TOKEN_ID, ""), key) if key else None
        if slot:
            verdict, stored = self.idempotency.begin(slot, self.idempotency.body_hash(raw))
            if verdict == "replay":
                self.counts["idempotent_replays"] += 1
                resp = web.json_response(stored[1], status=stored[0])
                resp.headers["Idempotent-Replayed"] = "true"
                return resp
            if verdict == "conflict":
                return error(422, "Idempotency-Key reused", stored, field="Idempotency-Key",
                             reason="idempotency_conflict")
            if verdict == "pending":
                return error(409, "a request with this Idempotency-Key is in progress",
                             reason="idempotency_pending")
        resp, body = await self._accept_signal(sig)
        if slot:
            self.idempotency.finish(slot, resp.status, body)
        return resp

    def _signal_refused(self, exc: SignalRefused) -> web.Response:
        extra = {"field": exc.field} if exc.field else {}
        return error(exc.status, exc.message, exc.detail, reason=exc.reason, **extra)

    async def _accept_signal(self, sig: signals.SignalBody) -> tuple[web.Response, dict]:
        body = sig.body
        symbol = body.get("symbol")
        filled = False
        if isinstance(symbol, str) and ("price" not in body or "market_ts" not in body):
            last = await self.last_price(symbol)
            if last is not None:  # the gateway keeps PRICE: callers may omit what it knows
                filled = "market_ts" not in body
                body.setdefault("price", last[0])
                body.setdefault("market_ts", last[1])
        try:
            (payload,) = self.moonbot.on_external(body)
            signals.check_market_ts(body, await self.market_now(), self.cfg.market_ts_window_s)
            if self.live_feed:
                signals.check_wall_ts(body, self.clock.time(), self.cfg.live_wall_window_s)
        except ExternalSignalError as exc:
            field = str(exc).split(":", 1)[0]
            hint = " (no PRICE seen for this symbol yet)" if field in ("price", "market_ts") \
                else ""
            return error(422, "invalid signal", str(exc) + hint, field=field), {}
        except SignalRefused as exc:
            if filled and exc.field == "market_ts":  # the caller sent none: say whose it was
                exc.detail += (f" (the market time of {symbol}'s last PRICE, which the gateway "
                               "filled in: no fresh price for it; send price and market_ts)")
            return self._signal_refused(exc), {}
        payload["strategy"] = sig.source or self.cfg.default_strategy
        try:
            env = await self.publish("SIGNAL", payload, correlation_id=sig.correlation_id)
        except EnvelopeError as exc:
            return error(422, "invalid signal", str(exc), field=exc.where), {}
        except Exception as exc:
            log.warning("SIGNAL not published: %s", exc)
            return error(503, "bus unavailable: signal not accepted", type(exc).__name__), {}
        self.counts["signals"] += 1
        answer = {"event_id": env.event_id, "correlation_id": env.correlation_id,
                  "topic": env.topic, "strategy": payload["strategy"]}
        return web.json_response(answer, status=202), answer

    async def get_events(self, request: web.Request) -> web.Response:
        cid = request.match_info["correlation_id"]
        if not CORRELATION_RE.match(cid):
            return error(400, "bad correlation id", "1-64 characters of A-Z a-z 0-9 _ . : -")
        try:
            offset, limit = page_params(request.query)
        except ValueError as exc:
            return error(400, "bad paging parameter", str(exc))
        hops = await self._reads.get("events:" + cid,
                                     lambda: trace(open_reader(self.state), cid))
        if not hops:
            return error(404, "no audited events with this correlation id", cid)
        await self._audit_read(request, 200)
        page = hops[offset:offset + limit]
        more = offset + limit < len(hops)
        return web.json_response({"correlation_id": cid, "total": len(hops), "offset": offset,
                                  "next_offset": offset + limit if more else None,
                                  "hops": [h.__dict__ for h in page]})

    async def get_positions(self, request: web.Request) -> web.Response:
        store = await asyncio.to_thread(ExecutorStore, self.state.positions)
        if store.load_error:
            return error(503, "positions unreadable", store.load_error)
        positions = []
        for pos in store.positions.values():
            item = msgspec.to_builtins(pos)
            del item["fill_env"]
            last = await self.last_price(pos.symbol)
            if last is not None:
                item["last_price"] = last[0]
                item["unrealized_pnl"] = pos.quantity * (last[0] - pos.entry_price) - pos.entry_fee
            positions.append(item)
        pending = sum(1 for r in store.orders.values() if not r.done)
        await self._audit_read(request, 200)
        return web.json_response({"positions": positions, "count": len(positions),
                                  "orders_in_flight": pending, "file": str(store.path)})

    async def get_report(self, request: web.Request) -> web.Response:
        summary = await self._reads.get("report", lambda: summarize(open_reader(self.state)))
        await self._audit_read(request, 200)
        return web.json_response(summary)

    async def get_trading(self, request: web.Request) -> web.Response:
        store = TradingStateStore(self.state.trading_state)
        state = store.load()
        await self._audit_read(request, 200)
        return web.json_response({"state": state, "error": store.last_error})

    async def post_trading(self, request: web.Request) -> web.Response:
        """Same effect as ``hope trading ACTION``: the file first, then CONTROL on the bus."""
        action = request.match_info["action"]
        if action not in COMMAND_STATE:
            return error(404, "unknown trading action", action, allowed=sorted(COMMAND_STATE))
        change = await set_trading_state(
            TradingStateStore(self.state.trading_state), action,
            f"gateway POST /v1/trading/{action}",
            lambda payload: self.publish("CONTROL", payload))
        if change.error is not None:  # the file holds; services pick it up on their next reload
            return error(503, "state written but CONTROL not published",
                         type(change.error).__name__, state=change.state,
                         previous=change.previous)
        env = change.published
        return web.json_response({"state": change.state, "previous": change.previous,
                                  "event_id": env.event_id, "correlation_id": env.correlation_id})


def route_table(app: web.Application) -> set[tuple[str, str]]:
    """(path template, method) of every route (HEAD twins of GETs left out): for the OpenAPI test."""
    out = set()
    for route in app.router.routes():
        info: Mapping[str, Any] = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            out.add((path, route.method.lower()))
    return out
