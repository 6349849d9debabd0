"""Gateway defences on a real socket: token scopes, CLI-only resume, idempotency, bounded and
checked signals, the market_ts window, Host allow-list and headers, paged and cached reads."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from hope.clock import ManualClock
from hope.envelope import new_event
from hope.gateway.app import GatewayApp
from hope.gateway.config import GatewayConfig
from hope.paths import StatePaths
from tests.helpers import Recorder, answering, write_audit

TOKENS = {"signals": "s" * 32, "read": "r" * 32, "control": "c" * 32}
MARKET_NOW = 1_610_226_000.0
SIG = {"symbol": "EVXBTC", "price": 1.5e-05, "market_ts": MARKET_NOW}


def auth(scope: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[scope]}", **extra}


@pytest.fixture
async def gw(tmp_path: Path):
    state = StatePaths.at(tmp_path).ensure()
    clock, rec = ManualClock(), Recorder()
    cfg = GatewayConfig(port=0, max_body_bytes=4096, rate_limit_per_s=100.0,
                        rate_limit_burst=100, idempotency_window_s=60.0, read_cache_s=5.0)
    app = GatewayApp(cfg, TOKENS, state, rec, clock=clock, market_now=answering(lambda: MARKET_NOW))
    port = await app.start()
    async with aiohttp.ClientSession() as session:

        async def call(method, path, headers, **kw):
            async with session.request(method, f"http://127.0.0.1:{port}{path}",
                                       headers=headers, **kw) as r:
                text = await r.text()
                return r.status, (json.loads(text) if text else None), r.headers

        yield app, call, rec, clock, state
    await app.stop()


@pytest.mark.parametrize("method, path, right", [
    ("POST", "/v1/signals", "signals"), ("GET", "/v1/report", "read"),
    ("GET", "/v1/trading", "read"), ("POST", "/v1/trading/halt", "control"),
])
async def test_each_route_takes_only_its_scope(gw, method, path, right):
    """A token of another scope is 403 naming the scope needed; its own scope passes."""
    app, call, rec, _, _ = gw
    for scope in TOKENS:
        status, body, _ = await call(method, path, auth(scope), json=SIG)
        if scope == right:
            assert status < 400, body
        else:
            assert status == 403 and body["scope"] == right
    assert app.refusals["wrong_scope"] == 2


async def test_resume_is_cli_only_by_default(gw):
    """POST /v1/trading/resume is 403 even with the control token unless allow_http_resume."""
    app, call, rec, _, _ = gw
    status, body, _ = await call("POST", "/v1/trading/resume", auth("control"))
    assert status == 403 and "hope trading resume" in body["detail"]
    assert rec.of("CONTROL") == [] and app.refusals["http_resume"] == 1


async def test_idempotency_key_and_signal_id_dedupe_resubmissions(gw):
    """The same key and body twice: one SIGNAL, the same answer; another body under it: 422."""
    _, call, rec, clock, _ = gw
    h = auth("signals", **{"Idempotency-Key": "moonbot-17"})
    first = await call("POST", "/v1/signals", h, json=SIG)
    again = await call("POST", "/v1/signals", h, json=SIG)
    assert first[0] == again[0] == 202 and first[1] == again[1]
    assert again[2]["Idempotent-Replayed"] == "true" and len(rec.of("SIGNAL")) == 1
    other = await call("POST", "/v1/signals", h, json={**SIG, "price": 2e-05})
    assert other[0] == 422 and other[1]["field"] == "Idempotency-Key"
    body = {**SIG, "signal_id": "mb-99"}
    assert (await call("POST", "/v1/signals", auth("signals"), json=body))[0] == 202
    assert (await call("POST", "/v1/signals", auth("signals"), json=body))[0] == 202
    assert len(rec.of("SIGNAL")) == 2
    clock.advance(61.0)  # past the window: a new submission
    assert (await call("POST", "/v1/signals", auth("signals"), json=body))[0] == 202
    assert len(rec.of("SIGNAL")) == 3


def _deep(n: int) -> str:
    return '{"symbol": "EVXBTC", "x": ' + "[" * n + "]" * n + "}"


@pytest.mark.parametrize("raw, field", [
    (_deep(1_500), "body"),                                   # RecursionError territory
    (_deep(40), "x"),                                         # past MAX_DEPTH
    ('{"symbol": "EVXBTC", "price": 1e-5, "market_ts": 1610226000, "n": 18446744073709551617}',
     "n"),                                                    # over 2^64: used to be 503
    ('{"symbol": "EVX\\u001b[2JBTC", "price": 1e-5, "market_ts": 1610226000}', "symbol"),
    ('{"symbol": "\\u0415VXBTC", "price": 1e-5, "market_ts": 1610226000}', "symbol"),
    ('{"symbol": "EVXBTC", "price": 1e-5, "market_ts": 4e9}', "market_ts"),
    ('{"symbol": "EVXBTC", "price": 1e-5, "market_ts": 1610225000}', "market_ts"),
])
async def test_unbounded_or_unchecked_bodies_are_422_naming_the_field(gw, raw, field):
    """Deep nesting, huge integers, bad symbols and a market_ts off the clock: 422, nothing
    published, counted."""
    app, call, rec, _, _ = gw
    h = auth("signals", **{"Content-Type": "application/json"})
    status, body, _ = await call("POST", "/v1/signals", h, data=raw.encode())
    assert status == 422 and body["field"].startswith(field), body
    assert rec.events == [] and sum(app.refusals.values()) == 1


async def test_market_ts_is_refused_while_the_market_clock_is_unknown(tmp_path):
    """No PRICE heard yet: nothing to judge market_ts by, so the signal is refused (fail-closed)."""
    app = GatewayApp(GatewayConfig(port=0), TOKENS, StatePaths.at(tmp_path).ensure(), Recorder())
    port = await app.start()
    try:
        async with aiohttp.ClientSession() as s, s.post(
                f"http://127.0.0.1:{port}/v1/signals", json=SIG, headers=auth("signals")) as r:
            assert r.status == 422 and (await r.json())["field"] == "market_ts"
    finally:
        await app.stop()


async def test_foreign_host_is_421_and_every_answer_has_security_headers(gw):
    """DNS rebinding gets 421; answers (also errors) carry CSP, X-Frame-Options, nosniff."""
    app, call, _, _, _ = gw
    status, _, h = await call("GET", "/v1/report", auth("read", Host="evil.example:8780"))
    assert status == 421 and h["X-Frame-Options"] == "DENY"
    assert app.refusals["host_not_allowed"] == 1
    for path in ("/v1/report", "/v1/nothing", "/v1/openapi.json"):
        _, _, h = await call("GET", path, auth("read", Host="localhost:8780"))
        assert "default-src 'none'" in h["Content-Security-Policy"]
        assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY"


async def test_events_are_paged(gw):
    """/v1/events pages its hops with offset/limit and says where the next page starts."""
    _, call, _, _, state = gw
    sig = new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "moonbot", "price": 1.0,
                               "market_ts": 1.0}, source="gateway", correlation_id="abc")
    decisions = [new_event("DECISION", {"symbol": "EVXBTC", "action": "SKIP", "confidence": i,
                                        "reasons": [], "position_size": 0.0, "targets": {},
                                        "config_hash": "cfg:x"}, source="decision-engine",
                           parent=sig) for i in range(5)]
    write_audit(state.events, "signals", [sig])
    write_audit(state.events, "decisions", decisions)
    status, body, _ = await call("GET", "/v1/events/abc?limit=2", auth("read"))
    assert status == 200 and body["total"] == 6 and len(body["hops"]) == 2
    assert body["next_offset"] == 2
    last = await call("GET", "/v1/events/abc?offset=4&limit=2", auth("read"))
    assert len(last[1]["hops"]) == 2 and last[1]["next_offset"] is None
    assert (await call("GET", "/v1/events/abc?limit=100000", auth("read")))[0] == 400


async def test_report_is_computed_once_per_cache_window(gw):
    """Ten report requests inside read_cache_s scan the log once; after it, once more."""
    app, call, _, clock, _ = gw
    for _ in range(10):
        assert (await call("GET", "/v1/report", auth("read")))[0] == 200
    assert app._reads.scans == 1
    clock.advance(6.0)
    assert (await call("GET", "/v1/report", auth("read")))[0] == 200
    assert app._reads.scans == 2


async def test_on_a_live_feed_market_ts_must_also_be_near_the_wall_clock(tmp_path):
    """Live: a market_ts on the market clock but an hour from the wall clock is a 422; near: 202."""
    wall = MARKET_NOW + 3600
    market = [MARKET_NOW]
    app = GatewayApp(GatewayConfig(port=0), TOKENS, StatePaths.at(tmp_path).ensure(), Recorder(),
                     clock=ManualClock(wall), market_now=answering(lambda: market[0]), live_feed=True)
    port = await app.start()
    url = f"http://127.0.0.1:{port}/v1/signals"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(url, json=SIG, headers=auth("signals")) as r:
                body = await r.json()
                assert r.status == 422 and body["field"] == "market_ts", body
                assert "wall clock" in body["detail"]
            market[0] = wall - 5
            async with s.post(url, json={**SIG, "market_ts": wall - 5},
                              headers=auth("signals")) as r:
                assert r.status == 202, await r.text()
    finally:
        await app.stop()
