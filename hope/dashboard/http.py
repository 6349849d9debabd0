"""The dashboard's HTTP server on 127.0.0.1 (aiohttp).

| path | what |
|---|---|
| ``/`` | the page (``?token=<read token>`` once: a session cookie, then a redirect to ``/``) |
| ``/static/<file>`` | the page's script and style, and Plotly's ``plotly.min.js`` from its package |
| ``/api/snapshot`` | the whole view as JSON, with the id of the last update it includes |
| ``/api/stream`` | server-sent events: a snapshot, then every update; ``Last-Event-ID`` (or
  ``?last_event_id=``) resumes after that update |
| ``/trace/<correlation_id>`` | one trade's full trace (``hope trace``), ``/api/trace/...`` as JSON |
| ``POST /api/control/<action>`` | halt / reduce (/ resume), forwarded to the gateway |

Every path but ``/static`` needs the read token (401 JSON, or an HTML hint for a browser).
Errors are JSON ``{"error", "detail"}``; a bug in a view is a 500 and a log line.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from hope.audit.trace import AmbiguousPrefix
from hope.dashboard import auth, control
from hope.dashboard.config import DashboardConfig
from hope.dashboard.stream import UpdateLog, sse
from hope.httpguard import allowed_hosts, guard

log = logging.getLogger("hope.dashboard.http")
STATIC = Path(__file__).with_name("static")
# Plotly sets inline styles on the elements it draws; no script is inline, none from elsewhere
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
PUBLIC_PREFIX = "/static/"
TraceOf = Callable[[str], Awaitable[list[dict[str, Any]]]]


def plotly_js() -> bytes:
    """plotly.min.js as the ``plotly`` package ships it (no CDN, no download at run time)."""
    return resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()


class DashboardHttp:
    def __init__(self, cfg: DashboardConfig, token: str, updates: UpdateLog,
                 snapshot: Callable[[], dict[str, Any]], trace_of: TraceOf,
                 gateway_url: Callable[[], str | None], resume_allowed: bool) -> None:
        self.cfg, self._token, self.updates = cfg, token, updates
        self.snapshot, self.trace_of, self.gateway_url = snapshot, trace_of, gateway_url
        self.resume_allowed = resume_allowed
        self.counts = {"requests": 0, "refused": 0, "streams": 0, "control_forwarded": 0,
                       "errors": 0}
        self.streams: set[web.StreamResponse] = set()
        self._runner: web.AppRunner | None = None
        self._static: dict[str, tuple[bytes, str]] = {}

    def app(self) -> web.Application:
        hosts = allowed_hosts(self.cfg.host, self.cfg.allowed_hosts)
        app = web.Application(client_max_size=self.cfg.max_request_bytes, middlewares=[
            guard(hosts, csp_for=lambda r: CSP, on_refused=self._refused), self._errors,
            self._auth])
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/static/{name}", self.static)
        r.add_get("/api/snapshot", self.get_snapshot)
        r.add_get("/api/stream", self.stream)
        r.add_get("/api/trace/{cid}", self.trace_json)
        r.add_get("/trace/{cid}", self.trace_page)
        r.add_post("/api/control/{action}", self.post_control)
        app.on_shutdown.append(self._close_streams)
        return app

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port)
        await site.start()
        sockets = getattr(getattr(site, "_server", None), "sockets", None) or []
        return sockets[0].getsockname()[1] if sockets else self.cfg.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def kill(self) -> None:
        for resp in list(self.streams):
            task = getattr(resp, "_hope_task", None)
            if task is not None:
                task.cancel()

    async def _close_streams(self, app: web.Application) -> None:
        self.kill()

    def _refused(self, reason: str) -> None:
        self.counts["refused"] += 1

    # --- middlewares -------------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.counts["requests"] += 1
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, "not found", request.path)
        except web.HTTPMethodNotAllowed as exc:
            resp = _error(405, "method not allowed", request.method)
            resp.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
            return resp
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "request too large", f"limit {self.cfg.max_request_bytes} bytes")
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug in a view must not take the dashboard down
            self.counts["errors"] += 1
            log.exception("dashboard view failed")
            return _error(500, "internal error", type(exc).__name__)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(PUBLIC_PREFIX):
            return await handler(request)
        query = request.query.get("token")
        if not auth.allowed(self._token, bearer=auth.bearer_of(request.headers.get(
                "Authorization")), cookie=request.cookies.get(auth.COOKIE), query=query):
            self.counts["refused"] += 1
            if request.path == "/" or request.path.startswith("/trace/"):
                return web.Response(status=401, content_type="text/html", text=_LOGIN)
            return _error(401, "read token required",
                          "open /?token=<state>/keys/gateway-read.token's content once, or "
                          "send Authorization: Bearer <read token>")
        if query:  # a browser's first visit: keep a session, drop the token from the URL
            resp = web.HTTPSeeOther(request.path)
            resp.set_cookie(auth.COOKIE, auth.session_value(self._token), httponly=True,
                            samesite="Strict", path="/")
            raise resp
        return await handler(request)

    # --- views -------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        body = (STATIC / "index.html").read_text()
        return web.Response(text=body, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._static:
            if name == "plotly.min.js":
                data, kind = plotly_js(), "application/javascript"
            elif name in ("dashboard.js", "dashboard.css") and (STATIC / name).is_file():
                data = (STATIC / name).read_bytes()
                kind = "application/javascript" if name.endswith(".js") else "text/css"
            else:
                return _error(404, "not found", request.path)
            self._static[name] = (data, kind)
        data, kind = self._static[name]
        return web.Response(body=data, content_type=kind, headers={"Cache-Control": "no-cache"})

    async def get_snapshot(self, request: web.Request) -> web.Response:
        return web.json_response({"id": self.updates.event_id(), "snapshot": self.snapshot()})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        resp._hope_task = asyncio.current_task()  # type: ignore[attr-defined]
        await resp.prepare(request)
        self.streams.add(resp)
        self.counts["streams"] += 1
        try:
            await self._feed(resp, request.headers.get("Last-Event-ID")
                             or request.query.get("last_event_id"))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.streams.discard(resp)
        return resp

    async def _feed(self, resp: web.StreamResponse, last_event_id: str | None) -> None:
        log_ = self.updates
        seen = log_.parse(last_event_id)
        if seen is None:  # a first visit, or a gap the kept updates cannot fill
            seen = log_.last
            await resp.write(sse(json.dumps({"snapshot": self.snapshot()}),
                                 log_.event_id(seen), "snapshot"))
        else:
            await resp.write(sse(json.dumps({"resumed_after": last_event_id,
                                             "missed": log_.last - seen}), event="resumed"))
        while True:
            for n, data in log_.since(seen):
                await resp.write(sse(data, log_.event_id(n)))
                seen = n
            if not await log_.wait(seen, self.cfg.keepalive_s):
                await resp.write(b": keep-alive\n\n")

    async def trace_json(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        try:
            hops = await self.trace_of(cid)
        except AmbiguousPrefix as exc:
            return _error(409, "more than one correlation id starts with this", str(exc))
        if not hops:
            return _error(404, "no audited events with this correlation id", cid)
        return web.json_response({"correlation_id": hops[0].get("correlation_id", cid),
                                  "hops": hops})

    async def trace_page(self, request: web.Request) -> web.Response:
        from hope.dashboard.tracepage import render
        cid = request.match_info["cid"]
        try:
            hops = await self.trace_of(cid)
        except AmbiguousPrefix as exc:
            return web.Response(text=str(exc), status=409)
        return web.Response(text=render(cid, hops), content_type="text/html", charset="utf-8",
                            status=200 if hops else 404)

    async def post_control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            return _error(400, "body is not valid JSON", str(exc))
        confirm = body.get("confirm") if isinstance(body, dict) else None
        token = request.headers.get("X-Hope-Control-Token", "").strip() or None
        refusal = control.check(action, token, confirm, self.resume_allowed)
        if refusal is not None:
            return web.json_response(refusal.body | {"status": refusal.status},
                                     status=refusal.status)
        base = self.gateway_url()
        if not base:
            return _error(503, "gateway not known yet", "no gateway heartbeat seen on the bus")
        status, answer = await control.forward(base, action, token or "")
        self.counts["control_forwarded"] += 1
        return web.json_response({"gateway_status": status, "answer": answer}, status=status)


def _error(status: int, message: str, detail: Any = None) -> web.Response:
    return web.json_response({"error": message, "status": status, "detail": detail},
                             status=status)


_LOGIN = ("<!doctype html><meta charset=utf-8><title>HOPE dashboard: token needed</title>"
          "<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>"
          "<h1>Read token needed</h1><p>Open this page once as <code>/?token=TOKEN</code> with "
          "the gateway's read-scope token:</p><pre>cat state/keys/gateway-read.token</pre>"
          f"<p>{html.escape('See docs/RUNBOOK.md, “The dashboard”.')}</p>")
