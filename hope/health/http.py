"""The monitor's HTTP server on 127.0.0.1: ``/health``, ``/metrics``, ``/`` (status page).

Unknown paths get 404 JSON, other methods than GET/HEAD 405 JSON, requests with a body over
``max_request_bytes`` 413 JSON; an exception inside a handler is a 500 JSON and a log line,
never a crash of the server. Requests for another Host get 421, and every answer carries the
security headers (:mod:`hope.httpguard`: DNS rebinding from a local browser reads nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from hope.health.metrics import CONTENT_TYPE
from hope.httpguard import CSP_API, CSP_PAGE, allowed_hosts, guard

log = logging.getLogger("hope.health.http")


class HealthHttp:
    def __init__(self, *, host: str, port: int, max_request_bytes: int,
                 not_up: Callable[[], Mapping[str, Any]], metrics: Callable[[], bytes],
                 page: Callable[[], str],
                 warnings: Callable[[], list[str]] = lambda: [],
                 extra_hosts: tuple[str, ...] = (),
                 instance: Mapping[str, Any] | None = None,
                 cluster: Callable[[], Mapping[str, Any]] = dict) -> None:
        self.host, self.port = host, port
        self.hosts = allowed_hosts(host, extra_hosts)
        self.refused_hosts = 0
        self.max_request_bytes = max_request_bytes
        self._not_up, self._metrics, self._page = not_up, metrics, page
        self._warnings = warnings  # reported with a 200: e.g. a witness down stops no trading
        self._cluster = cluster    # hosts and each service's host, in every answer
        self._instance = dict(instance or {})  # who the instance runs as (hope/privsep.py)
        self.requests = 0
        self.errors = 0
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_request_bytes, middlewares=[
            guard(self.hosts, csp_for=lambda r: CSP_PAGE if r.path == "/" else CSP_API,
                  on_refused=self._host_refused), self._guard])
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics_view)
        app.router.add_get("/", self._status)
        return app

    async def start(self) -> int:
        """Bind and serve; returns the port actually bound (useful with port 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        return self.bound_port

    def _host_refused(self, _reason: str) -> None:
        self.refused_hosts += 1

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        self.requests += 1
        length = request.content_length
        if length is not None and length > self.max_request_bytes:
            return _json(413, {"error": "request too large",
                               "limit_bytes": self.max_request_bytes})
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _json(404, {"error": "not found", "path": request.path,
                               "paths": ["/", "/health", "/metrics"]})
        except web.HTTPMethodNotAllowed as exc:
            return _json(405, {"error": "method not allowed", "method": request.method,
                               "allowed": sorted(exc.allowed_methods)},
                         headers={"Allow": ", ".join(sorted(exc.allowed_methods))})
        except web.HTTPRequestEntityTooLarge:
            return _json(413, {"error": "request too large",
                               "limit_bytes": self.max_request_bytes})
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug in a view must not take the monitor down
            self.errors += 1
            log.exception("http handler failed")
            return _json(500, {"error": "internal error", "detail": type(exc).__name__})

    async def _health(self, request: web.Request) -> web.Response:
        bad = dict(self._not_up())
        warnings = self._warnings()
        more = {**({"warnings": warnings} if warnings else {}),
                **({"instance": self._instance} if self._instance else {}), **self._cluster()}
        if bad:
            return _json(503, {"status": "DEGRADED", "not_up": bad, **more})
        return _json(200, {"status": "UP", **more})

    async def _metrics_view(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics(), headers={"Content-Type": CONTENT_TYPE})

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page(), content_type="text/html", charset="utf-8")


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)
