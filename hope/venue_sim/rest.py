"""The public REST endpoints: ``/api/v3/ping``, ``time``, ``exchangeInfo``, ``aggTrades``.

Every ``/api/`` response carries ``X-MBX-USED-WEIGHT-1M``; weights are the venue's (ping 1,
time 1, exchangeInfo 20, aggTrades 4); over the limit: 429 then 418 with ``Retry-After`` and
``{"code":-1003,...}``. Errors use the venue's JSON ``{"code":-1121,"msg":"Invalid symbol."}``
with HTTP 400. Timestamps may be sent in ms or µs, as on the venue; the header
``X-MBX-TIME-UNIT: MICROSECOND`` makes the response's times µs. ``limit`` above 1000 is
served as 1000. ``fromId`` together with ``startTime``/``endTime`` is refused (-1128).
Fault knobs: every response ``delay_s`` late; the first ``fail_first`` requests and every
``fail_every``-th fail with ``fail_status`` and ``{"code":-1001,...}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hope.venue_sim.exchange_info import ExchangeInfo
from hope.venue_sim.faults import ClockSkew, Outage
from hope.venue_sim.limits import Verdict, WeightLimiter
from hope.venue_sim.market import Market
from hope.venue_sim.scenario import RestSettings

WEIGHTS = {"/api/v3/ping": 1, "/api/v3/time": 1, "/api/v3/exchangeInfo": 20,
           "/api/v3/aggTrades": 4}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
_LONG = "^[0-9]{1,20}$"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A refusal in the venue's shape: HTTP status, code and message."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json", charset="UTF-8")


def error_response(code: int, msg: str, status: int = 400) -> web.Response:
    return json_response({"code": code, "msg": msg}, status)


def _long(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; "
                              f"legal range is '{_LONG}'.")
    return int(raw)


def _ms(query: Any, name: str) -> int | None:
    value = _long(query, name)
    if value is not None and value >= 10 ** 14:   # microseconds, as the venue accepts
        value //= 1000
    return value


def _micro(request: web.Request) -> bool:
    unit = request.headers.get("X-MBX-TIME-UNIT")
    if unit is None or unit.upper() == "MILLISECOND":
        return False
    if unit.upper() == "MICROSECOND":
        return True
    raise ApiError(-1100, "Illegal characters found in parameter 'X-MBX-TIME-UNIT'; legal "
                          "range is 'MILLISECOND, MICROSECOND'.")


def _check_params(query: Any, allowed: set[str]) -> None:
    extra = [k for k in query if k not in allowed]
    if extra:
        raise ApiError(-1104, f"Not all sent parameters were read; read '{len(query) - len(extra)}'"
                              f" parameter(s) but was sent '{len(query)}'.")


class RestApi:
    """The REST side of the stand-in; ``counts`` says how often each path was called."""

    def __init__(self, market: Market, info: ExchangeInfo, settings: RestSettings,
                 clock: Callable[[], float] = time.time, outage: Outage | None = None,
                 skew: ClockSkew | None = None) -> None:
        self.market = market
        self.outage = outage or Outage()
        self.skew = skew or ClockSkew()
        self.info = info
        self.settings = settings
        self.clock = clock
        self.limiter = WeightLimiter(settings.weight_limit, settings.ban_after, settings.ban_s,
                                     clock=clock)
        self.requests = 0
        self.counts: Counter[str] = Counter()
        self.refused: Counter[int] = Counter()   # HTTP status -> how many (429, 418, 5xx)
        # (method, path) -> the request's weight, for endpoints whose weight depends on them
        self.weighers: dict[tuple[str, str], Callable[[web.Request], int]] = {}
        self.override: Callable[[Verdict], Verdict] | None = None   # a fault knob's 429/418

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        app.router.add_get("/api/v3/ping", self.ping)
        app.router.add_get("/api/v3/time", self.time)
        app.router.add_get("/api/v3/exchangeInfo", self.exchange_info)
        app.router.add_get("/api/v3/aggTrades", self.agg_trades)

    def _failing(self) -> bool:
        s, n = self.settings, self.requests
        return n <= s.fail_first or (s.fail_every > 0 and n > s.fail_first
                                     and (n - s.fail_first) % s.fail_every == 0)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(("/api/", "/sapi/")):
            return await handler(request)
        if self.outage.active():
            self.refused[503] += 1
            return web.Response(status=503, text="venue unavailable")
        self.requests += 1
        self.counts[request.path] += 1
        if self.settings.delay_s > 0:
            await asyncio.sleep(self.settings.delay_s)
        weigh = self.weighers.get((request.method, request.path))
        verdict = self.limiter.charge(weigh(request) if weigh else WEIGHTS.get(request.path, 1))
        if self.override is not None:
            verdict = self.override(verdict)
        if verdict.status == 429:
            resp = error_response(-1003, "Too much request weight used; current limit is "
                                  f"{self.limiter.limit} request weight per 1 MINUTE. Please use "
                                  "WebSocket Streams for live updates to avoid polling the API.",
                                  429)
        elif verdict.status == 418:
            until = int((self.clock() + verdict.retry_after) * 1000)
            resp = error_response(-1003, f"Way too much request weight used; IP banned until "
                                  f"{until}. Please use WebSocket Streams for live updates to "
                                  "avoid bans.", 418)
        elif self._failing():
            resp = error_response(-1001, "Internal error; unable to process your request. "
                                  "Please try again.", self.settings.fail_status)
        else:
            try:
                resp = await handler(request)
            except ApiError as exc:
                resp = error_response(exc.code, exc.msg, exc.status)
            except web.HTTPException as exc:
                resp = exc
        if verdict.retry_after:
            resp.headers["Retry-After"] = str(verdict.retry_after)
        if verdict.status != 200 or resp.status >= 500:
            self.refused[resp.status] += 1
        resp.headers["X-MBX-USED-WEIGHT"] = resp.headers["X-MBX-USED-WEIGHT-1M"] = str(
            verdict.used)
        return resp

    def _now_ms(self, request: web.Request) -> int:
        """The server time in the request's time unit (ms, or µs with X-MBX-TIME-UNIT)."""
        ms = self.skew.now_ms(self.clock)
        return int(ms * 1000) if _micro(request) else int(ms)

    async def ping(self, request: web.Request) -> web.Response:
        return json_response({})

    async def time(self, request: web.Request) -> web.Response:
        return json_response({"serverTime": self._now_ms(request)})

    def _symbols(self, query: Any) -> list[str] | None:
        if "symbol" in query and "symbols" in query:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if "symbol" in query:
            names = [query["symbol"]]
        elif "symbols" in query:
            try:
                names = json.loads(query["symbols"])
            except ValueError:
                names = None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ApiError(-1100, "Illegal characters found in parameter 'symbols'; legal "
                                      "range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]"
                                      "{1,20}\"){0,}){0,1}\\]$'.")
        else:
            return None
        for name in names:
            if not self.info.listed(name):
                raise ApiError(-1121, "Invalid symbol.")
        return names

    async def exchange_info(self, request: web.Request) -> web.Response:
        q = request.query
        _check_params(q, {"symbol", "symbols", "permissions", "showPermissionSets",
                          "symbolStatus"})
        symbols = self._symbols(q)
        status = q.get("symbolStatus")
        if status is not None:
            if symbols is not None:
                raise ApiError(-1128, "Combination of optional parameters invalid.")
            if status not in ("TRADING", "HALT", "BREAK"):
                raise ApiError(-1122, "Invalid symbolStatus.")
        return json_response(self.info.body(symbols, status, self._now_ms(request)))

    async def agg_trades(self, request: web.Request) -> web.Response:
        q = request.query
        _check_params(q, {"symbol", "fromId", "startTime", "endTime", "limit"})
        symbol = q.get("symbol", "")
        if not symbol:
            raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                  "or malformed.")
        tape = self.market.tape(symbol)
        if tape is None or not self.info.listed(symbol):
            raise ApiError(-1121, "Invalid symbol.")
        from_id = _long(q, "fromId")
        start, end = _ms(q, "startTime"), _ms(q, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        limit = _long(q, "limit")
        if limit is None:
            limit = DEFAULT_LIMIT
        elif limit < 1:
            raise ApiError(-1100, "Illegal characters found in parameter 'limit'; legal "
                                  f"range is '1-{MAX_LIMIT}'.")
        rows = tape.query(self.clock(), from_id, start, end, min(limit, MAX_LIMIT))
        micro = _micro(request)
        return json_response([t.rest_row(micro) for t in rows])
