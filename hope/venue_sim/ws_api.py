"""The WebSocket API at ``/ws-api/v3`` (web-socket-api.md): requests and responses as JSON text
frames, and the User Data Stream of the accounts a connection subscribed to.

Wire::

    -> {"id": 1, "method": "time"}                 <- {"id": 1, "status": 200,
                                                       "result": {"serverTime": ms},
                                                       "rateLimits": [...]}
    -> {"id": 2, "method": "ping"}                 <- {"id": 2, "status": 200, "result": {}}
    -> {"id": 3, "method": "userDataStream.subscribe.signature",
        "params": {"apiKey": K, "timestamp": ms, "signature": S}}
                                                   <- {"id": 3, "status": 200,
                                                       "result": {"subscriptionId": 0}}
    -> {"id": 4, "method": "session.logon", "params": {apiKey, timestamp, signature}}  (Ed25519)
    -> {"id": 5, "method": "userDataStream.subscribe"}                 (on a logged-on session)
    -> {"id": 6, "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 0}}
    -> session.status, session.logout, session.subscriptions
    <- {"subscriptionId": 0, "event": {"e": "executionReport", ...}}    (hope.venue_sim.user_stream)
    <- {"id": 7, "status": 400, "error": {"code": -1022, "msg": "..."}}

The signature is over the sorted parameters (:func:`hope.venue_sim.signing.ws_payload`).
Where the documentation is silent the stand-in chooses: a frame that is not a JSON object, or
lacks ``id`` or ``method``, gets status 400 with -1102 and ``"id": null``; an unknown method
400 with -1100; ``session.logon`` with an HMAC key 400 with -4056; ``userDataStream.subscribe``
without a logged-on session 401 with -2015. Over the weight limit: 429 (and 418, after which
the connection is closed) with ``error.data.retryAfter``, the epoch ms to retry at. The server pings every ``ping_interval_s`` (aiohttp
heartbeat). Fault knob: ``drop_after(n)``: every subscribed connection is cut (no close frame)
once ``n`` more user-stream events have been sent to it (0: at once), the rest of that fill
never arrives on it. The feed's ``shutdown`` fault on demand sends ``serverShutdown`` here too.
An outage (``/sim/v1/fault`` ``outage``) cuts every connection and refuses
new ones (HTTP 503) while it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from hope.venue_sim.book import Books
from hope.venue_sim.orders import VenueOrder, VenueTrade
from hope.venue_sim.rest import ApiError, RestApi
from hope.venue_sim.signing import ApiKey, KeyRing, authenticate_ws
from hope.venue_sim.user_stream import account_position, execution_report, wrap

_ABORT = object()      # cut the connection (no close frame)
_CLOSE = object()      # close it after what is queued (a banned IP is disconnected)


class ApiConnection:
    """One WebSocket API connection: its session key, its subscriptions, its frame queue."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request,
                 connected_ms: int) -> None:
        self.ws = ws
        self.request = request
        self.connected_ms = connected_ms
        self.session: ApiKey | None = None
        self.authorized_ms: int | None = None
        self.subs: dict[int, tuple[str, bool]] = {}     # id -> (account, via session.logon)
        self.next_sub = 0
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closing = False
        self.drop_countdown: int | None = None
        self.after_reply: list[dict[str, Any]] = []   # events the current reply precedes

    def send(self, body: dict[str, Any]) -> None:
        if not self.closing:
            self.queue.put_nowait(json.dumps(body, separators=(",", ":")))

    def send_event(self, body: dict[str, Any]) -> None:
        """A user-stream event, counted against a pending drop."""
        if self.closing:
            return
        if self.drop_countdown is not None:
            if self.drop_countdown <= 0:
                self.closing = True
                self.queue.put_nowait(_ABORT)
                return
            self.drop_countdown -= 1
        self.send(body)

    async def write_frames(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None:
                return
            if frame is _CLOSE:
                self.closing = True
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1008, message=b"IP banned")
                return
            if frame is _ABORT:
                self.closing = True
                transport = self.request.transport
                if transport is not None:
                    transport.abort()
                return
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return


def _error(req_id: Any, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": req_id, "status": status, "error": {"code": code, "msg": msg}}


class WsApi:
    def __init__(self, books: Books, keys: KeyRing, rest: RestApi,
                 ping_interval_s: float = 20.0,
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.books = books
        self.keys = keys
        self.rest = rest
        self.ping_interval_s = ping_interval_s
        self.log = log
        self.connections: set[ApiConnection] = set()
        self.execution_id = 0
        self.events_sent = 0
        books.listeners.append(self.on_book_event)
        rest.outage.on_start.append(self.kill_all)   # the venue unreachable: users cut too

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ws-api/v3", self.serve)

    def now_ms(self) -> int:
        return self.books.now_ms()

    # --- user data stream ------------------------------------------------------------------
    def on_book_event(self, order: VenueOrder, trade: VenueTrade | None, exec_type: str) -> None:
        self.execution_id += 1
        if not any(conn.subs for conn in self.connections):
            return                              # nobody listens: build nothing
        now = self.now_ms()
        report = execution_report(order, trade, exec_type, now, self.execution_id)
        position = None
        if exec_type in ("NEW", "TRADE", "CANCELED", "EXPIRED"):
            position = account_position(self.books.accounts.get(order.account), order.symbol,
                                        now)
        for conn in list(self.connections):
            for sub_id, (account, _) in list(conn.subs.items()):
                if account != order.account:
                    continue
                conn.send_event(wrap(sub_id, report))
                self.events_sent += 1
                if position is not None:
                    conn.send(wrap(sub_id, position))

    def drop_after(self, events: int) -> int:
        """Cut every subscribed connection after ``events`` more user-stream events (0: now);
        how many connections that hits."""
        armed = 0
        for conn in self.connections:
            if conn.subs:
                armed += 1
                if events <= 0:
                    conn.closing = True
                    conn.queue.put_nowait(_ABORT)
                else:
                    conn.drop_countdown = events
        return armed

    # --- connections -----------------------------------------------------------------------
    async def serve(self, request: web.Request) -> web.StreamResponse:
        if self.rest.outage.active():
            return web.Response(status=503, text="venue unavailable")
        self.rest.limiter.charge(2)          # connecting weighs 2, as on the venue
        ws = web.WebSocketResponse(heartbeat=self.ping_interval_s, autoping=True)
        await ws.prepare(request)
        conn = ApiConnection(ws, request, self.now_ms())
        self.connections.add(conn)
        writer = asyncio.create_task(conn.write_frames())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self.handle(conn, msg.data)
                    conn.send(reply)
                    if reply["status"] == 418:
                        conn.closing = True
                        conn.queue.put_nowait(_CLOSE)
                    for event in conn.after_reply:
                        conn.send(event)
                    conn.after_reply.clear()
                elif msg.type == WSMsgType.BINARY:
                    conn.send(_error(None, 400, -1102, "Binary frames are not accepted."))
        finally:
            self.connections.discard(conn)
            conn.closing = True
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(writer, 1.0)
        return ws

    async def shutdown_all(self, grace_s: float) -> None:
        """``{"event": {"e": "serverShutdown"}}`` to every connection, closed ``grace_s``
        later (the venue restarting)."""
        conns = list(self.connections)
        for conn in conns:
            conn.send({"event": {"e": "serverShutdown", "E": self.now_ms()}})
        await asyncio.sleep(grace_s)
        for conn in conns:
            if not conn.closing:
                conn.closing = True
                conn.queue.put_nowait(_CLOSE)

    def kill_all(self) -> None:
        """Abort every connection (the stand-in stopping or wiped); never raises."""
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                conn.closing = True
                conn.queue.put_nowait(_ABORT)

    # --- requests --------------------------------------------------------------------------
    def handle(self, conn: ApiConnection, text: str) -> dict[str, Any]:
        """The response to one request frame (sync: a request never waits)."""
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or "id" not in msg or not isinstance(msg.get("method"),
                                                                          str):
            return _error(None, 400, -1102, "Mandatory parameter 'id' or 'method' was not "
                                            "sent, was empty/null, or malformed.")
        req_id, method = msg["id"], msg["method"].removeprefix("v3/")
        params = msg.get("params") or {}
        if not isinstance(params, dict):
            return _error(req_id, 400, -1102, "Parameter 'params' must be an object.")
        handler = METHODS.get(method)
        if handler is None:
            return _error(req_id, 400, -1100, f"Unknown method '{method}'.")
        verdict = self.rest.limiter.charge(WEIGHTS.get(method, 2))
        if self.rest.override is not None:
            verdict = self.rest.override(verdict)
        limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                   "limit": self.rest.limiter.limit, "count": verdict.used}]
        if verdict.status != 200:
            now = self.now_ms()
            until = now + verdict.retry_after * 1000
            msg = (f"Way too much request weight used; IP banned until {until}. Please use "
                   "WebSocket Streams for live updates to avoid bans." if verdict.status == 418
                   else f"Too much request weight used; current limit is "
                   f"{self.rest.limiter.limit} request weight per 1 MINUTE. Please use "
                   "WebSocket Streams for live updates to avoid polling the API.")
            body = _error(req_id, verdict.status, -1003, msg)
            body["error"]["data"] = {"serverTime": now, "retryAfter": until}
        else:
            try:
                body = {"id": req_id, "status": 200, "result": handler(self, conn, params)}
            except ApiError as exc:
                body = _error(req_id, exc.status, exc.code, exc.msg)
        body["rateLimits"] = limits
        return body

    def _session(self, conn: ApiConnection) -> dict[str, Any]:
        return {"apiKey": conn.session.api_key if conn.session else None,
                "authorizedSince": conn.authorized_ms, "connectedSince": conn.connected_ms,
                "returnRateLimits": True, "serverTime": self.now_ms(),
                "userDataStream": bool(conn.subs)}

    def _subscribe(self, conn: ApiConnection, key: ApiKey, via_session: bool) -> dict:
        if any(account == key.account for account, _ in conn.subs.values()):
            raise ApiError(-2035, "User Data Stream subscription already active.")
        sub_id = conn.next_sub
        conn.next_sub += 1
        conn.subs[sub_id] = (key.account, via_session)
        return {"subscriptionId": sub_id}

    def _end(self, conn: ApiConnection, sub_id: int) -> None:
        conn.subs.pop(sub_id, None)
        conn.after_reply.append(wrap(sub_id, {"e": "eventStreamTerminated",
                                              "E": self.now_ms()}))

    def m_time(self, conn: ApiConnection, params: dict) -> dict:
        return {"serverTime": self.now_ms()}

    def m_ping(self, conn: ApiConnection, params: dict) -> dict:
        return {}

    def m_logon(self, conn: ApiConnection, params: dict) -> dict:
        key = authenticate_ws(self.keys, params, self.books.skew.now_ms(self.books.clock))
        if key.kind != "Ed25519":
            raise ApiError(-4056, "HMAC_SHA256 API key is not supported.")
        conn.session, conn.authorized_ms = key, self.now_ms()
        return self._session(conn)

    def m_status(self, conn: ApiConnection, params: dict) -> dict:
        return self._session(conn)

    def m_logout(self, conn: ApiConnection, params: dict) -> dict:
        for sub_id, (_, via_session) in list(conn.subs.items()):
            if via_session:
                self._end(conn, sub_id)
        conn.session = conn.authorized_ms = None
        return self._session(conn)

    def m_subscribe(self, conn: ApiConnection, params: dict) -> dict:
        if conn.session is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return self._subscribe(conn, conn.session, True)

    def m_subscribe_signature(self, conn: ApiConnection, params: dict) -> dict:
        key = authenticate_ws(self.keys, params, self.books.skew.now_ms(self.books.clock))
        return self._subscribe(conn, key, False)

    def m_unsubscribe(self, conn: ApiConnection, params: dict) -> dict:
        sub_id = params.get("subscriptionId")
        if sub_id is None:
            for existing in list(conn.subs):
                self._end(conn, existing)
            return {}
        if sub_id not in conn.subs:
            raise ApiError(-2036, "User Data Stream subscription not active.")
        self._end(conn, sub_id)
        return {}

    def m_subscriptions(self, conn: ApiConnection, params: dict) -> list:
        return [{"subscriptionId": sub_id} for sub_id in conn.subs]


METHODS: dict[str, Callable[[WsApi, ApiConnection, dict], Any]] = {
    "time": WsApi.m_time, "ping": WsApi.m_ping, "session.logon": WsApi.m_logon,
    "session.status": WsApi.m_status, "session.logout": WsApi.m_logout,
    "userDataStream.subscribe": WsApi.m_subscribe,
    "userDataStream.subscribe.signature": WsApi.m_subscribe_signature,
    "userDataStream.unsubscribe": WsApi.m_unsubscribe,
    "session.subscriptions": WsApi.m_subscriptions,
}
WEIGHTS = {"time": 1, "ping": 1}
