"""Binance's REST market-data endpoints, inside the venue's request-weight budget.

:class:`WeightGate` is the socket-free budget: the venue reports the weight used in the current
minute in ``X-MBX-USED-WEIGHT-1M`` on every answer; HOPE spends at most ``share`` of the
minute's ``REQUEST_WEIGHT`` limit (from ``exchangeInfo``), waits for the next minute when a
request would exceed it, honours ``Retry-After`` on 429 and stops every request on 418 (an IP
ban) until it expires. :class:`RestClient` is the aiohttp side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from hope.feed.messages import AggTrade, MessageError, parse_rows

AGG_TRADES_WEIGHT = 4
EXCHANGE_INFO_WEIGHT = 20
DEFAULT_WEIGHT_LIMIT = 6000
PAGE = 1000


class RestError(RuntimeError):
    """A REST call that failed; ``retry`` says whether trying again later may help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class WeightGate:
    """The request-weight budget on the wall clock (the venue's minute is the UTC minute)."""

    def __init__(self, share: float = 0.5, limit: int = DEFAULT_WEIGHT_LIMIT) -> None:
        self.share = share
        self.limit = limit
        self.used = 0
        self.minute = -1
        self.blocked_until = 0.0
        self.banned_until = 0.0
        self.limited = 0      # 429 answers
        self.bans = 0         # 418 answers

    @property
    def budget(self) -> int:
        return max(1, int(self.limit * self.share))

    def wait(self, weight: int, now: float) -> float:
        """Seconds to wait before a request of ``weight``; 0 books it now."""
        if now < self.blocked_until:
            return self.blocked_until - now
        minute = int(now // 60)
        if minute != self.minute:
            self.minute, self.used = minute, 0
        if self.used + weight > self.budget and self.used > 0:
            return (minute + 1) * 60.0 - now + 0.05
        self.used += weight
        return 0.0

    def observe(self, status: int, headers: Any, now: float) -> None:
        """Learn from one answer: the weight used, and any 429/418 with ``Retry-After``."""
        used = headers.get("X-MBX-USED-WEIGHT-1M")
        if used is not None:
            try:
                self.used, self.minute = int(used), int(now // 60)
            except ValueError:
                pass
        if status in (418, 429):
            try:
                after = float(headers.get("Retry-After", "60"))
            except ValueError:
                after = 60.0
            self.blocked_until = max(self.blocked_until, now + max(after, 1.0))
            if status == 418:
                self.bans += 1
                self.banned_until = self.blocked_until
            else:
                self.limited += 1

    def set_limit(self, exchange_info: dict[str, Any]) -> None:
        for lim in exchange_info.get("rateLimits", []) or []:
            if (isinstance(lim, dict) and lim.get("rateLimitType") == "REQUEST_WEIGHT"
                    and lim.get("interval") == "MINUTE" and lim.get("intervalNum", 1) == 1
                    and isinstance(lim.get("limit"), int) and lim["limit"] > 0):
                self.limit = lim["limit"]


class RestClient:
    """GET ``<rest_url>/api/v3/...`` through the gate; JSON answers, errors as RestError."""

    def __init__(self, base_url: str, gate: WeightGate, *, timeout_s: float = 10.0,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.gate = gate
        self.sleep = sleep
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.wall = wall
        self.session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.errors = 0

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def get(self, path: str, params: dict[str, Any], weight: int) -> Any:
        while (delay := self.gate.wait(weight, self.wall())) > 0:
            await self.sleep(min(delay, 5.0))
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        self.requests += 1
        url = f"{self.base_url}{path}"
        try:
            async with self.session.get(url, params=params) as resp:
                self.gate.observe(resp.status, resp.headers, self.wall())
                if resp.status == 200:
                    return await resp.json(content_type=None)
                text = (await resp.text())[:200]
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            self.errors += 1
            raise RestError(f"GET {path}: {type(exc).__name__} {exc}") from None
        self.errors += 1
        retry = resp.status in (418, 429) or resp.status >= 500
        raise RestError(f"GET {path}: HTTP {resp.status} {text}", retry=retry)

    async def agg_trades(self, symbol: str, *, from_id: int | None = None,
                         start_ms: int | None = None, end_ms: int | None = None,
                         limit: int = PAGE) -> list[AggTrade]:
        params: dict[str, Any] = {"symbol": symbol, "limit": limit}
        if from_id is not None:
            params["fromId"] = from_id
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        body = await self.get("/api/v3/aggTrades", params, AGG_TRADES_WEIGHT)
        try:
            return parse_rows(body, symbol)
        except MessageError as exc:
            self.errors += 1
            raise RestError(f"GET /api/v3/aggTrades {symbol}: {exc}") from None

    async def exchange_info(self) -> dict[str, Any]:
        body = await self.get("/api/v3/exchangeInfo", {}, EXCHANGE_INFO_WEIGHT)
        if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
            raise RestError("GET /api/v3/exchangeInfo: no symbols list", retry=True)
        self.gate.set_limit(body)
        return body


def trading_symbols(info: dict[str, Any], symbols: list[str], quote: str) -> dict[str, str]:
    """``{symbol: status}`` for the configured symbols (or every one quoted in ``quote``)."""
    out: dict[str, str] = {}
    wanted = set(symbols)
    for s in info.get("symbols", []):
        if not isinstance(s, dict) or not isinstance(s.get("symbol"), str):
            continue
        name = s["symbol"]
        if (wanted and name in wanted) or (quote and s.get("quoteAsset") == quote):
            out[name] = str(s.get("status", "UNKNOWN"))
    return out
