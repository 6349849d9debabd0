"""The gateway service on the in-process bus: token file, heartbeat port, SIGNALs, Telegram wiring."""

from __future__ import annotations

import os
import stat

import aiohttp
import pytest

from hope.bus.memory import LocalBroker
from hope.envelope import new_event
from hope.gateway.auth import (
    ENV_PREFIX,
    SCOPES,
    TokenError,
    bearer,
    load_or_create_token,
    load_tokens,
    scopes_of,
    token_id,
    token_path,
)
from hope.gateway.service import GatewayService
from hope.testing import drain, service_for_tests, stop_service
from tests.helpers import TELEGRAM_TOKEN as TG_TOKEN
from tests.helpers import FakeTelegram, fill


def test_one_token_file_per_scope_is_created_0600_and_reused(tmp_path):
    """Missing token files are created (0600 in a 0700 dir, random, distinct) and reused."""
    keys = tmp_path / "keys"
    tokens, where, warnings = load_tokens(keys, env={})
    assert set(tokens) == set(SCOPES) and len(set(tokens.values())) == 3
    for scope in SCOPES:
        path = token_path(keys, scope)
        assert where[scope] == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(tokens[scope]) >= 32
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert len(warnings) == 3 and all("created" in w for w in warnings)
    assert load_tokens(keys, env={})[0] == tokens


def test_env_tokens_win_loose_files_are_tightened_shared_tokens_refused(tmp_path):
    """HOPE_GATEWAY_TOKEN_<SCOPE> overrides its file; a 0644 file is chmod 600 with a warning;
    two scopes with one token are refused."""
    keys = tmp_path / "keys"
    tokens, where, _ = load_tokens(keys, env={ENV_PREFIX + "READ": "r" * 20})
    assert tokens["read"] == "r" * 20 and where["read"].startswith("env ")
    assert not token_path(keys, "read").exists()
    path = tmp_path / "loose.token"
    path.write_text("f" * 20)
    os.chmod(path, 0o644)
    token, warnings = load_or_create_token(path)
    assert token == "f" * 20 and "tightened" in warnings[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short")
    with pytest.raises(TokenError, match="shorter than 16"):
        load_or_create_token(path)
    same = tokens["signals"]
    with pytest.raises(TokenError, match="share one token"):
        load_tokens(keys, env={ENV_PREFIX + "CONTROL": same})


def test_bearer_and_scopes_never_reveal_the_token():
    """Headers without a bearer give None; a token maps to its scopes; the id is not the token."""
    tokens = {"signals": "s" * 20, "read": "r" * 20, "control": "c" * 20}
    assert bearer(None) is None and bearer("Basic abc") is None
    assert scopes_of("nope", tokens) == frozenset()
    assert scopes_of("r" * 20, tokens) == {"read"}
    assert "s" * 20 not in token_id("s" * 20)


async def _gateway(tmp_path, broker, overrides=None):
    for scope in SCOPES:
        os.environ.pop(ENV_PREFIX + scope.upper(), None)
    svc = await service_for_tests(GatewayService, tmp_path, broker,
                                  {"gateway": {"port": 0}, **(overrides or {})})
    await svc.runtime.bus.start()
    return svc


async def _stop(svc):
    await stop_service(svc)


async def test_signal_over_http_is_published_on_the_bus_with_port_in_heartbeat(tmp_path):
    """POST /v1/signals puts a SIGNAL on the bus, its price from the newest PRICE (a symbol
    without one is a 422 saying so); the heartbeat carries the bound port."""
    broker = LocalBroker()
    svc = await _gateway(tmp_path, broker)
    try:
        token = token_path(svc.state.keys, "signals").read_text().strip()
        await svc.runtime.beats.beat()
        beat = [e for e in broker.published if e.event_type == "HEARTBEAT"][-1]
        assert beat.payload["http_port"] == svc.port
        assert beat.payload["endpoints"]["signals"].endswith(f":{svc.port}/v1/signals")
        # a PRICE seen by the gateway fills in price and market_ts
        other = broker.bus("scanner")
        await other.publish(new_event("PRICE", {"symbol": "EVXBTC", "price": 2e-05,
                                                "market_ts": 1_610_226_000.0}, source="scanner"))
        await drain(svc)
        url, auth = f"http://127.0.0.1:{svc.port}/v1/signals", {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"symbol": "EVXBTC"}, headers=auth) as resp:
                assert resp.status == 202
                body = await resp.json()
            async with http.post(url, json={"symbol": "NOPEBTC"}, headers=auth) as resp:
                assert resp.status == 422  # callers learn why, as before
                assert "(no PRICE seen for this symbol yet)" in (await resp.json())["detail"]
        (sig,) = [e for e in broker.published if e.event_type == "SIGNAL"]
        assert sig.event_id == body["event_id"] and sig.publisher == "gateway"
        assert sig.payload["price"] == 2e-05 and sig.seq > 0
    finally:
        await _stop(svc)


async def test_price_cache_takes_only_market_data(tmp_path):
    """A PRICE from a non-market-data publisher, or one jumping past the step bound, never
    fills the price the gateway's SIGNALs carry nor moves its market clock, nor hides the
    genuine price before it; a newer genuine PRICE does both."""
    broker = LocalBroker()
    svc = await _gateway(tmp_path, broker)
    scanner = broker.bus("scanner")

    def price(p, ts, source="scanner"):
        return new_event("PRICE", {"symbol": "EVXBTC", "price": p, "market_ts": ts},
                         source=source)
    try:
        t0 = 1_610_226_000.0
        await scanner.publish(price(2e-05, t0))
        assert await svc.last_price("EVXBTC") == (2e-05, t0)
        assert await svc.market_now() == t0
        await broker.bus("evil").publish(price(9.0, t0 + 1, "evil"))
        assert await svc.last_price("EVXBTC") == (2e-05, t0) and await svc.market_now() == t0
        await scanner.publish(price(8.0, t0 + 1e9))
        assert await svc.market_now() == t0 and await svc.last_price("EVXBTC") == (2e-05, t0)
        (alert,) = [e for e in broker.published if e.event_type == "ALERT"]
        assert alert.payload["kind"] == "market_clock_jump"
        await scanner.publish(price(3e-05, t0 + 2))
        assert await svc.last_price("EVXBTC") == (3e-05, t0 + 2)
        assert await svc.market_now() == t0 + 2 and await svc.last_price("NOPEBTC") is None
        assert svc.runtime.bus.inbox.empty()  # kept, never delivered
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


def test_a_token_shared_through_another_group_is_kept_group_readable(tmp_path):
    """0640 with a group other than the owner's own (privilege separation sharing the read
    token with the dashboard) is kept; 0640 in the owner's own group is tightened."""
    import grp

    from hope.gateway.auth import load_or_create_token

    path = tmp_path / "gateway-read.token"
    load_or_create_token(path)
    os.chmod(path, 0o640)
    _, notes = load_or_create_token(path)
    assert path.stat().st_mode & 0o777 == 0o600 and "tightened" in notes[0]
    other = next(g.gr_gid for g in grp.getgrall() if g.gr_gid != os.getegid())
    os.chown(path, -1, other)  # the suite runs as root (CONVENTIONS: CI as root)
    os.chmod(path, 0o640)
    assert load_or_create_token(path)[1] == []
    assert path.stat().st_mode & 0o777 == 0o640
