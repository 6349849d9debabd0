"""The one REST client of the venue: signed and public requests over aiohttp, with timeouts.

Seams for what surrounds a request (injected, all optional):

- ``offset_ms()``: the clock offset to the venue's time, added to the local wall clock for
  ``timestamp`` (a time-offset estimator plugs in here);
- ``before_send(request)``: called before every request (a rate budget plugs in here; it may
  raise :class:`~hope.venue.errors.NotSent` to refuse locally);
- ``on_headers(request, status, headers)``: every answer's headers (``X-MBX-USED-WEIGHT-1M``,
  ``X-MBX-ORDER-COUNT-10S``, ``Retry-After``...);
- ``on_reply(record)``: every answer as kept in the audit log: method, path, the parameters
  without ``signature``, status and body; the API key travels in a header and never appears.

Errors are typed by :mod:`hope.venue.errors`: a connection refused before sending is
:class:`NotSent`; a timeout or reset after sending, a 5XX, ``-1007``... are
:class:`VenueUnknown`; other 4XX are :class:`VenueRefused`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hope.venue.errors import NotSent, VenueError, VenueUnknown, error_for
from hope.venue.signing import Signer, query_string, signed_query

MAX_BODY_CHARS = 16_384  # what one audited reply keeps of a body


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, Any]
    signed: bool
    weight: int = 1
    is_order: bool = False   # counts against the venue's ORDERS limits


@dataclass
class Reply:
    """One answer as the audit log keeps it (nothing secret: no key, no signature)."""

    method: str
    path: str
    params: dict[str, Any]
    status: int | None
    body: Any
    wall_ts: float
    elapsed_ms: float
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def as_payload(self) -> dict[str, Any]:
        body = self.body
        text = json.dumps(body, separators=(",", ":"), default=str)
        if len(text) > MAX_BODY_CHARS:
            body = {"truncated": text[:MAX_BODY_CHARS]}
        return {"method": self.method, "path": self.path, "params": self.params,
                "status": self.status, "body": body, "wall_ts": self.wall_ts,
                "elapsed_ms": round(self.elapsed_ms, 3), "error": self.error,
                "headers": self.headers}


USAGE_HEADERS = ("x-mbx-used-weight-1m", "x-mbx-order-count-10s", "x-mbx-order-count-1d",
                 "retry-after")


class VenueRest:
    def __init__(self, base_url: str, api_key: str, signer: Signer, *, recv_window_ms: int,
                 timeout_s: float, offset_ms: Callable[[], float] | None = None,
                 before_send: Callable[[Request], Awaitable[None] | None] | None = None,
                 on_headers: Callable[[Request, int, Mapping[str, str]], None] | None = None,
                 on_reply: Callable[[Reply], None] | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._signer = signer
        self.recv_window_ms = recv_window_ms
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.offset_ms = offset_ms or (lambda: 0.0)
        self.before_send = before_send
        self.on_headers = on_headers
        self.on_reply = on_reply
        self.wall = wall
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"VenueRest({self.base_url!r})"

    def timestamp_ms(self) -> int:
        return int(self.wall() * 1000 + self.offset_ms())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    # --- requests ----------------------------------------------------------------------------
    async def public(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
                     weight: int = 1) -> Any:
        return await self.send(Request(method, path, dict(params or {}), False, weight))

    async def signed(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
                     weight: int = 1, is_order: bool = False) -> Any:
        return await self.send(Request(method, path, dict(params or {}), True, weight, is_order))

    async def send(self, req: Request) -> Any:
        """One request; the decoded JSON body, or a typed :class:`VenueError`."""
        if asyncio.current_task() is None:
            # inline (eager) dispatch runs a handler outside any Task until it first waits;
            # aiohttp's timeouts need one: wait once, and go on inside the Task it becomes
            await asyncio.sleep(0)
        if self.before_send is not None:
            waited = self.before_send(req)
            if waited is not None:
                await waited
        if req.signed:
            query = signed_query(req.params, self._signer, timestamp_ms=self.timestamp_ms(),
                                 recv_window_ms=self.recv_window_ms)
        else:
            query = query_string(req.params)
        url = f"{self.base_url}{req.path}" + (f"?{query}" if query else "")
        headers = {"X-MBX-APIKEY": self._api_key} if req.signed else {}
        started, t0 = self.wall(), time.monotonic()
        status: int | None = None
        body: Any = None
        try:
            async with self._http().request(req.method, url, headers=headers) as resp:
                status = resp.status
                self._headers(req, resp.status, resp.headers)
                text = await resp.text()
                usage = {k: resp.headers[k] for k in USAGE_HEADERS if k in resp.headers}
        except aiohttp.ClientConnectorError as exc:
            self._record(req, None, None, started, t0, f"not connected: {exc.strerror}")
            raise NotSent(f"could not connect to {self.base_url}: {exc.strerror}") from None
        except TimeoutError:
            self._record(req, status, None, started, t0, "timeout")
            raise VenueUnknown(f"no answer within {self.timeout.total:g}s") from None
        except aiohttp.ClientError as exc:
            self._record(req, status, None, started, t0, f"{type(exc).__name__}")
            raise VenueUnknown(f"connection failed after sending: {type(exc).__name__}") \
                from None
        body = _decode(text)
        self._record(req, status, body, started, t0, None, usage)
        if 200 <= status < 300 and not (isinstance(body, dict) and "code" in body
                                        and "msg" in body and len(body) == 2):
            return body
        raise self._error(status, body, usage)

    @staticmethod
    def _error(status: int, body: Any, usage: dict[str, str]) -> VenueError:
        code = body.get("code") if isinstance(body, dict) else None
        msg = body.get("msg") if isinstance(body, dict) else None
        retry = usage.get("retry-after")
        return error_for(status, code if isinstance(code, int) else None,
                         str(msg if msg is not None else body)[:500],
                         retry_after_s=float(retry) if retry and retry.isdigit() else None)

    def _headers(self, req: Request, status: int, headers: Mapping[str, str]) -> None:
        if self.on_headers is not None:
            self.on_headers(req, status, headers)

    def _record(self, req: Request, status: int | None, body: Any, started: float, t0: float,
                error: str | None, usage: dict[str, str] | None = None) -> None:
        if self.on_reply is not None:
            self.on_reply(Reply(req.method, req.path, dict(req.params), status, body, started,
                                (time.monotonic() - t0) * 1000, error, usage or {}))


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return {"unparsed": text[:2000]}
