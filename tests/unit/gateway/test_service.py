"""The gateway service on the in-process bus: token file, heartbeat port, SIGNALs, Telegram wiring."""

from __future__ import annotations

import os
import stat

import aiohttp
import pytest

from hope.bus.memory import LocalBroker
from hope.envelope import new_event
from hope.gateway.auth import (
    ENV_TOKEN,
    TokenError,
    check_bearer,
    load_or_create_token,
    token_id,
)
from hope.gateway.service import GatewayService
from hope.testing import drain, service_for_tests, stop_service
from tests.helpers import TELEGRAM_TOKEN as TG_TOKEN
from tests.helpers import FakeTelegram, fill


def test_token_file_is_created_0600_and_reused(tmp_path):
    """A missing token file is created (0600, random) and the same token is read back later."""
    path = tmp_path / "keys" / "gateway.token"
    token, where, warnings = load_or_create_token(path, env={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 32
    assert where == str(path) and "created" in warnings[0]
    assert load_or_create_token(path, env={})[0] == token


def test_env_token_wins_and_loose_files_are_tightened(tmp_path):
    """HOPE_GATEWAY_TOKEN overrides the file; a group-readable file is chmod 600 with a warning."""
    path = tmp_path / "gateway.token"
    assert load_or_create_token(path, env={ENV_TOKEN: "e" * 20})[0] == "e" * 20
    assert not path.exists()
    path.write_text("f" * 20)
    os.chmod(path, 0o644)
    token, _, warnings = load_or_create_token(path, env={})
    assert token == "f" * 20 and "tightened" in warnings[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short")
    with pytest.raises(TokenError, match="shorter than 16"):
        load_or_create_token(path, env={})


def test_bearer_check_and_token_id_never_reveal_the_token():
    """Missing/invalid/valid bearer headers are told apart; the id is not the token."""
    assert check_bearer(None, "s" * 20) == "missing"
    assert check_bearer("Basic abc", "s" * 20) == "missing"
    assert check_bearer("Bearer nope", "s" * 20) == "invalid"
    assert check_bearer("Bearer " + "s" * 20, "s" * 20) is None
    assert "s" * 20 not in token_id("s" * 20)


async def _gateway(tmp_path, broker, overrides=None):
    os.environ.pop(ENV_TOKEN, None)
    svc = await service_for_tests(GatewayService, tmp_path, broker,
                                  {"gateway": {"port": 0}, **(overrides or {})})
    await svc.runtime.bus.start()
    return svc


async def _stop(svc):
    await stop_service(svc)


async def test_signal_over_http_is_published_on_the_bus_with_port_in_heartbeat(tmp_path):
    """POST /v1/signals puts a SIGNAL on the bus; the heartbeat carries the bound port."""
    broker = LocalBroker()
    svc = await _gateway(tmp_path, broker)
    try:
        token = (svc.state.keys / "gateway.token").read_text().strip()
        await svc.runtime.beats.beat()
        beat = [e for e in broker.published if e.event_type == "HEARTBEAT"][-1]
        assert beat.payload["http_port"] == svc.port
        assert beat.payload["endpoints"]["signals"].endswith(f":{svc.port}/v1/signals")
        # a PRICE seen by the gateway fills in price and market_ts
        other = broker.bus("scanner")
        await other.publish(new_event("PRICE", {"symbol": "EVXBTC", "price": 2e-05,
                                                "market_ts": 1_610_226_000.0}, source="scanner"))
        await drain(svc)
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{svc.port}/v1/signals", json={"symbol": "EVXBTC"},
                headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 202
            body = await resp.json()
        (sig,) = [e for e in broker.published if e.event_type == "SIGNAL"]
        assert sig.event_id == body["event_id"] and sig.publisher == "gateway"
        assert sig.payload["price"] == 2e-05 and sig.seq > 0
    finally:
        await _stop(svc)


async def test_price_cache_takes_only_market_data(tmp_path):
    """A PRICE from a non-market-data publisher, or one jumping past the step bound, never
    fills the price the gateway's SIGNALs carry."""
    broker = LocalBroker()
    svc = await _gateway(tmp_path, broker)
    try:
        t0 = 1_610_226_000.0
        await broker.bus("scanner").publish(new_event(
            "PRICE", {"symbol": "EVXBTC", "price": 2e-05, "market_ts": t0}, source="scanner"))
        await broker.bus("evil").publish(new_event(
            "PRICE", {"symbol": "EVXBTC", "price": 9.0, "market_ts": t0 + 1}, source="evil"))
        await broker.bus("scanner").publish(new_event(
            "PRICE", {"symbol": "EVXBTC", "price": 8.0, "market_ts": t0 + 1e9},
            source="scanner"))
        await drain(svc)
        assert svc.prices["EVXBTC"] == (2e-05, t0)
    finally:
        await _stop(svc)


async def test_notifier_in_the_service_sends_and_dead_letters_failures(tmp_path):
    """A FILL on the bus reaches the Telegram stand-in; a failing send becomes a DEAD_LETTER."""
    tg = FakeTelegram()
    await tg.start()
    broker = LocalBroker()
    svc = await _gateway(tmp_path, broker, {"telegram": {
        "base_url": tg.url, "token": TG_TOKEN, "chat_id": "7", "burst": 5}})
    try:
        executor = broker.bus("executor")
        await executor.publish(fill(1))
        await drain(svc)
        assert tg.messages and "hope-1" in tg.messages[0]["text"]
        tg.fail = 502
        await executor.publish(fill(2))
        await drain(svc)
        (dl,) = [e for e in broker.published if e.event_type == "DEAD_LETTER"]
        assert dl.payload["handler"] == "telegram_notify" and "HTTP 502" in dl.payload["error"]
        assert TG_TOKEN not in dl.payload["error"]
        # the retry daemon's RETRY re-runs the handler; now the API is back
        tg.fail = None
        retry = new_event("RETRY", {"service": "gateway", "dlq_id": "d1", "handler":
                                    "telegram_notify", "attempt": 2, "event": dl.payload["event"]},
                          source="dlq-retry")
        await broker.bus("dlq-retry").publish(retry)
        await drain(svc)
        assert "hope-2" in tg.messages[-1]["text"]
        # the resend handler runs only on RETRY, for a notice of any topic
        retry = new_event("RETRY", {"service": "gateway", "dlq_id": "d2", "handler":
                                    "telegram_resend", "attempt": 2, "event": fill(3).to_dict()},
                          source="dlq-retry")
        await broker.bus("dlq-retry").publish(retry)
        await drain(svc)
        assert "hope-3" in tg.messages[-1]["text"]
    finally:
        await _stop(svc)
        await tg.runner.cleanup()


async def test_notifier_is_off_without_token(tmp_path):
    """No Telegram token: no notifier, the gateway still serves."""
    svc = await _gateway(tmp_path, LocalBroker())
    try:
        assert svc.notifier is None and svc.port
    finally:
        await _stop(svc)
