"""gateway: the HTTP API on 127.0.0.1 plus the Telegram notifier, in one service.

Publishes SIGNAL (POST /v1/signals), CONTROL (POST /v1/trading/...), API_REQUEST (accepted reads);
keeps the newest PRICE per symbol so callers may omit price/market_ts. PRICE is a last-value
prefix (``latest_of``, hope/bus/latest.py): the bus keeps each symbol's newest frame raw and a
request reads it, checked as on delivery and through the market clock's rules, so only a
market-data publisher's PRICE within the step bound is a price here and moves the clock
(``market_clock_from``: the values end up in SIGNALs, so a forged or future-dated PRICE must
not). The bound port and endpoints go into every heartbeat (``http_port``, ``endpoints``),
hence into the health monitor's registry.
"""

from __future__ import annotations

from typing import Any

from hope.gateway.app import GatewayApp
from hope.gateway.auth import load_tokens
from hope.notify.service import TelegramNotices, open_notifier
from hope.notify.telegram import TelegramNotifier
from hope.runtime import Runtime


class GatewayService(TelegramNotices):
    name = "gateway"
    # SIGNAL market_ts is judged against this clock: only the market-data publishers move it
    market_clock_from = "PRICE"
    latest_of = ("PRICE",)  # a price per symbol when a request asks, not every PRICE

    def __init__(self, runtime: Runtime, *, tokens: dict[str, str] | str,
                 notifier: TelegramNotifier | None = None) -> None:
        super().__init__(runtime)
        self.cfg = runtime.config.gateway
        self.api = GatewayApp(self.cfg, tokens, self.state, runtime.publish,
                              last_price=self.last_price, market_now=self.market_now,
                              clock=self.clock,
                              live_feed=runtime.config.scanner.source == "binance")
        self.notifier = notifier
        self.port = 0
        self.endpoints: dict[str, str] = {}

    @classmethod
    def create(cls, runtime: Runtime, *, tokens: dict[str, str] | str | None = None,
               notifier: TelegramNotifier | None = None) -> GatewayService:
        """``tokens``: scope -> token (one string: the same for every scope, tests); by default
        the scoped token files in the state dir (hope/gateway/auth.py)."""
        cfg = runtime.config.gateway
        if tokens is None:
            tokens, where, warnings = load_tokens(runtime.state.keys)
            for w in warnings:
                runtime.log.warning("gateway token", detail=w)
            runtime.log.info("gateway tokens", tokens_from=where)
        if notifier is None and cfg.notify:
            notifier = open_notifier(runtime)
        return cls(runtime, tokens=tokens, notifier=notifier)

    async def setup(self) -> None:
        self.port = await self.api.start()
        self.endpoints = self.api.endpoints(self.cfg.host, self.port)
        self.log.info("gateway listening", host=self.cfg.host, port=self.port)

    async def last_price(self, symbol: str) -> tuple[float, float] | None:
        """(price, market_ts) of the newest PRICE of ``symbol``; None: none, or refused."""
        env = await self.runtime.latest(f"PRICE.{symbol}")
        if env is None:
            return None
        p = env.payload
        return float(p["price"]), float(p["market_ts"])

    async def market_now(self) -> float | None:
        """The market clock, moved first by the newest PRICE (as its delivery would have)."""
        await self.runtime.newest("PRICE")
        return self.market_clock.now()

    async def stop(self) -> None:
        await self.api.stop()
        await self.close_notifier()

    def heartbeat(self) -> dict[str, Any]:
        return {"http_port": self.port, "endpoints": self.endpoints,
                "gateway": dict(self.api.counts), "refusals": dict(self.api.refusals),
                **self.notices_heartbeat()}
