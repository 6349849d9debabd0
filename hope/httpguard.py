"""What every HOPE HTTP server (gateway, health monitor) does before and after each view.

- **Host allow-list**: a request whose ``Host`` header names no allowed host gets 421. A page a
  local browser opened on ``evil.example`` that rebinds that name to 127.0.0.1 (DNS rebinding)
  still sends ``Host: evil.example``, so it reads nothing. Allowed by default: the loopback
  names and the address the server binds; ``allowed_hosts`` in the server's config adds more.
- **Security headers** on every answer, errors included: ``Content-Security-Policy``,
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# JSON APIs load nothing; the status page needs its own inline <style> and nothing else
CSP_API = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
CSP_PAGE = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_name(header: str | None) -> str:
    """The host part of a Host header (``[::1]:8780`` -> ``::1``), lower-case; '' if absent."""
    if not header:
        return ""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    hosts = {*LOOPBACK_HOSTS, *(h.lower() for h in extra)}
    if bind_host not in ("0.0.0.0", "::", ""):
        hosts.add(bind_host.lower())
    return frozenset(hosts)


def set_security_headers(resp: web.StreamResponse, csp: str) -> None:
    if resp.prepared:  # streamed answers set theirs before the first byte
        return
    resp.headers["Content-Security-Policy"] = csp
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"


def guard(hosts: frozenset[str], *, csp_for: Callable[[web.Request], str] = lambda r: CSP_API,
          on_refused: Callable[[str], None] | None = None) -> Any:
    """The aiohttp middleware: 421 for a Host outside ``hosts``; headers on every answer."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = host_name(request.headers.get("Host"))
        if name not in hosts:
            if on_refused:
                on_refused("host_not_allowed")
            resp: web.StreamResponse = web.json_response(
                {"error": "host not allowed", "status": 421,
                 "detail": "this server answers only requests for its own host names "
                           "(allowed_hosts in its config section)"}, status=421)
        else:
            try:
                resp = await handler(request)
            except web.HTTPException as exc:
                set_security_headers(exc, csp_for(request))
                raise
        set_security_headers(resp, csp_for(request))
        return resp

    return middleware
