"""gateway wiring: the HTTP API on 127.0.0.1 plus the Telegram notifier, in one service.

Publishes SIGNAL (POST /v1/signals), CONTROL (POST /v1/trading/...), API_REQUEST (accepted reads);
follows PRICE so callers may omit price/market_ts. The bound port and endpoints go into every
heartbeat (``http_port``, ``endpoints``), hence into the health monitor's registry.
"""

from __future__ import annotations

from typing import Any

from hope.envelope import Envelope, new_event
from hope.gateway.app import GatewayApp
from hope.gateway.auth import load_tokens
from hope.notify.service import setup_notifier


async def setup(svc: Any) -> None:
    cfg = svc.config.gateway
    tokens, where, warnings = load_tokens(svc.state.keys)
    for w in warnings:
        svc.log.warning("gateway token", detail=w)
    prices: dict[str, tuple[float, float]] = {}

    async def publish(event_type: str, payload: dict[str, Any], corr: str | None) -> Envelope:
        # new_event validates the payload exactly as every other publisher's events are validated
        return await svc.publish_event(new_event(event_type, payload, source=svc.name,
                                                 correlation_id=corr))

    api = GatewayApp(cfg, tokens, svc.state, publish, last_price=prices.get,
                     market_now=svc.market_clock.now, clock=svc.clock)
    port = await api.start()
    endpoints = api.endpoints(cfg.host, port)
    svc.log.info("gateway listening", host=cfg.host, port=port, tokens_from=where)

    def on_price(env: Envelope) -> None:
        p = env.payload
        prices[p["symbol"]] = (float(p["price"]), float(p["market_ts"]))

    svc.subscribe("PRICE", on_price)
    svc.on_stop(api.stop)
    svc.heartbeat_extras.append(lambda: {"http_port": port, "endpoints": endpoints,
                                         "gateway": dict(api.counts),
                                         "refusals": dict(api.refusals)})
    svc.gateway = api  # reachable from tests
    svc.http_port = port
    if cfg.notify:
        svc.notifier = await setup_notifier(svc)
