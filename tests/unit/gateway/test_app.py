"""Gateway HTTP API on a real socket: auth, limits, signals, reads and trading levers."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from hope.clock import ManualClock
from hope.envelope import EnvelopeError, new_event
from hope.gateway.app import GatewayApp
from hope.gateway.config import GatewayConfig
from hope.paths import StatePaths
from hope.trading.state import TradingStateStore
from tests.helpers import GATEWAY_TOKEN as TOKEN
from tests.helpers import Recorder, answering, write_audit

LEDGER_V1 = Path(__file__).resolve().parents[2] / "fixtures" / "ledger_v1"

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Api:
    def __init__(self, app: GatewayApp, base: str, session: aiohttp.ClientSession,
                 rec: Recorder, clock: ManualClock, state: StatePaths) -> None:
        self.app, self.base, self.session, self.rec = app, base, session, rec
        self.clock, self.state = clock, state

    async def call(self, method: str, path: str, *, headers=AUTH, **kw):
        async with self.session.request(method, self.base + path, headers=headers, **kw) as r:
            text = await r.text()
            body = json.loads(text) if text else None
            return r.status, body, r.headers


@pytest.fixture
async def api(tmp_path: Path):
    state = StatePaths.at(tmp_path).ensure()
    clock = ManualClock()
    rec = Recorder()
    cfg = GatewayConfig(port=0, max_body_bytes=1024, rate_limit_per_s=1.0, rate_limit_burst=5)
    prices = {"EVXBTC": (1.5e-05, 1_610_226_000.0), "OLDBTC": (2e-06, 1_609_000_000.0)}
    app = GatewayApp(cfg, TOKEN, state, rec, last_price=answering(prices.get), clock=clock,
                     market_now=answering(lambda: 1_610_226_000.0))
    port = await app.start()
    async with aiohttp.ClientSession() as session:
        yield Api(app, f"http://127.0.0.1:{port}", session, rec, clock, state)
    await app.stop()


async def test_signal_becomes_a_moonbot_signal_event(api: Api):
    """A valid POST /v1/signals publishes one SIGNAL (strategy moonbot) and answers its ids (202)."""
    status, body, _ = await api.call("POST", "/v1/signals", json={
        "symbol": "evx/btc", "price": 1.6e-05, "market_ts": 1_610_226_001.0, "note": "pump!"})
    assert status == 202
    (env,) = api.rec.of("SIGNAL")
    assert body["event_id"] == env.event_id and body["correlation_id"] == env.correlation_id
    assert env.payload["symbol"] == "EVXBTC" and env.payload["strategy"] == "moonbot"
    assert env.payload["note"] == "pump!" and env.topic == "SIGNAL.EVXBTC"


async def test_declared_source_and_correlation_id_are_kept(api: Api):
    """The caller's declared source becomes the strategy and its correlation id is used."""
    status, body, _ = await api.call("POST", "/v1/signals", json={
        "symbol": "EVXBTC", "source": "tradingview", "correlation_id": "tv-42"})
    assert status == 202
    env = api.rec.of("SIGNAL")[0]
    assert env.payload["strategy"] == "tradingview" and env.correlation_id == "tv-42"
    # price and market_ts came from the last PRICE the gateway saw
    assert env.payload["price"] == 1.5e-05 and env.payload["market_ts"] == 1_610_226_000.0


async def test_a_stale_last_price_filled_in_is_refused_saying_whose_time_it_was(api: Api):
    """Only a symbol whose last PRICE is far behind the market clock: 422 on market_ts, naming
    the gateway's fill (the caller sent no market_ts); nothing is published."""
    status, body, _ = await api.call("POST", "/v1/signals", json={"symbol": "OLDBTC"})
    assert status == 422 and body["field"] == "market_ts" and not api.rec.of("SIGNAL")
    assert "OLDBTC's last PRICE, which the gateway filled in" in body["detail"]
    status, body, _ = await api.call("POST", "/v1/signals", json={
        "symbol": "OLDBTC", "market_ts": 1_609_000_000.0})
    assert status == 422 and "filled in" not in body["detail"]   # the caller's own time


@pytest.mark.parametrize("body,status,field", [
    ({"price": 1.0, "market_ts": 1.0}, 422, "symbol"),
    ({"symbol": "ABCBTC"}, 422, "price"),
    ({"symbol": "EVXBTC", "price": -1, "market_ts": 1.0}, 422, "price"),
    ({"symbol": "EVXBTC", "price": "x", "market_ts": 1.0}, 422, "price"),
    ({"symbol": "EVXBTC", "source": "Bad Name!"}, 422, "source"),
    ({"symbol": "EVXBTC", "correlation_id": "a b"}, 422, "correlation_id"),
])
async def test_invalid_signals_get_422_naming_the_field(api: Api, body, status, field):
    """A signal that breaks the contract is refused with 422 naming the field; nothing published."""
    got, answer, _ = await api.call("POST", "/v1/signals", json=body)
    assert got == status and answer["field"] == field and answer["error"] == "invalid signal"
    assert api.rec.events == []


async def test_non_json_and_non_object_bodies_get_400(api: Api):
    """Malformed JSON and a JSON array are 400 with a JSON error body."""
    s1, b1, _ = await api.call("POST", "/v1/signals", data=b"{nope")
    s2, b2, _ = await api.call("POST", "/v1/signals", json=[1, 2])
    assert (s1, s2) == (400, 400) and "JSON" in b1["error"] and "object" in b2["error"]


async def test_envelope_validation_failure_is_422(api: Api, monkeypatch):
    """A payload the envelope validator refuses is a 422 naming the envelope field."""
    async def refuse(*a, **kw):
        raise EnvelopeError("non-finite number inf", "payload.price")
    api.app.publish = refuse
    status, body, _ = await api.call("POST", "/v1/signals", json={"symbol": "EVXBTC"})
    assert status == 422 and body["field"] == "payload.price"


async def test_bus_down_is_503_and_nothing_accepted(api: Api):
    """When publishing fails the caller gets 503, not a false 202."""
    api.rec.fail = True
    status, body, _ = await api.call("POST", "/v1/signals", json={"symbol": "EVXBTC"})
    assert status == 503 and "not accepted" in body["error"]


async def test_missing_token_is_401_and_wrong_token_403(api: Api):
    """No bearer token: 401 with WWW-Authenticate; a wrong one: 403; nothing is published."""
    s1, b1, h1 = await api.call("POST", "/v1/signals", headers={}, json={"symbol": "EVXBTC"})
    s2, _, _ = await api.call("GET", "/v1/report", headers={"Authorization": "Bearer " + "x" * 32})
    assert (s1, s2) == (401, 403) and h1["WWW-Authenticate"].startswith("Bearer")
    assert b1["error"] == "authentication required" and api.rec.events == []


async def test_failed_logins_are_rate_limited_per_address(api: Api):
    """Guessing tokens is slowed down: after 10 quick failures the address gets 429."""
    bad = {"Authorization": "Bearer wrong"}
    statuses = [(await api.call("GET", "/v1/report", headers=bad))[0] for _ in range(11)]
    assert statuses[:10] == [403] * 10 and statuses[10] == 429


async def test_rate_limit_per_token_answers_429_then_recovers(api: Api):
    """Past the burst the token gets 429 with Retry-After; after waiting it is served again."""
    statuses = [(await api.call("GET", "/v1/trading"))[0] for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    _, body, headers = await api.call("GET", "/v1/trading")
    assert headers["Retry-After"] == "1" and body["retry_after_s"] > 0
    api.clock.advance(1.0)
    assert (await api.call("GET", "/v1/trading"))[0] == 200


async def test_big_body_is_413(api: Api):
    """A body over max_body_bytes is refused with 413 before it is parsed."""
    status, body, _ = await api.call("POST", "/v1/signals",
                                     json={"symbol": "EVXBTC", "pad": "x" * 2000})
    assert status == 413 and body["limit_bytes"] == 1024 and api.rec.events == []


async def test_unknown_path_404_and_wrong_method_405_are_json(api: Api):
    """Unknown routes and methods answer JSON errors (with Allow on 405)."""
    s1, b1, _ = await api.call("GET", "/v1/nothing")
    s2, b2, h2 = await api.call("DELETE", "/v1/signals")
    assert (s1, s2) == (404, 405) and b1["error"] == "not found"
    assert "POST" in b2["allowed"] and "POST" in h2["Allow"]


async def test_trading_halt_and_resume_write_the_file_and_publish_control(api: Api):
    """POST /v1/trading/halt does what `hope trading halt` does: file first, then CONTROL."""
    status, body, _ = await api.call("POST", "/v1/trading/halt")
    assert status == 200 and body["state"] == "HALTED"
    assert TradingStateStore(api.state.trading_state).load() == "HALTED"
    control = api.rec.of("CONTROL")[0]
    assert control.payload == {"service": "*", "command": "halt"}
    status, body, _ = await api.call("POST", "/v1/trading/resume")
    assert status == 403 and body["error"] == "resume is CLI-only"
    assert TradingStateStore(api.state.trading_state).load() == "HALTED"
    api.app.cfg.allow_http_resume = True  # [gateway] allow_http_resume = true
    status, body, _ = await api.call("POST", "/v1/trading/resume")
    assert body == {**body, "state": "ACTIVE", "previous": "HALTED"}
    assert (await api.call("GET", "/v1/trading"))[1]["state"] == "ACTIVE"
    assert (await api.call("POST", "/v1/trading/explode"))[0] == 404


async def test_trading_with_bus_down_is_503_but_file_holds(api: Api):
    """The lever still holds on disk when the bus is down, and the caller is told (503)."""
    api.rec.fail = True
    status, body, _ = await api.call("POST", "/v1/trading/halt")
    assert status == 503 and body["state"] == "HALTED"
    assert TradingStateStore(api.state.trading_state).load() == "HALTED"


async def test_events_returns_the_audited_chain(api: Api):
    """GET /v1/events/{id} answers the audited chain; an unknown id is 404, a bad one 400."""
    sig = new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "moonbot", "price": 1.0,
                               "market_ts": 1.0}, source="gateway", correlation_id="abc")
    dec = new_event("DECISION", {"symbol": "EVXBTC", "action": "SKIP", "confidence": 0.0,
                                 "reasons": [], "position_size": 0.0, "targets": {},
                                 "config_hash": "cfg:x"}, source="decision-engine", parent=sig)
    write_audit(api.state.events, "signals", [sig])
    write_audit(api.state.events, "decisions", [dec])
    status, body, _ = await api.call("GET", "/v1/events/abc")
    assert status == 200 and [h["event_type"] for h in body["hops"]] == ["SIGNAL", "DECISION"]
    assert (await api.call("GET", "/v1/events/zzz"))[0] == 404
    assert (await api.call("GET", "/v1/events/a%20b"))[0] == 400
    assert api.rec.of("API_REQUEST")[0].payload["path"] == "/v1/events/abc"


async def test_positions_and_report_read_the_state_dir(api: Api):
    """Positions come from the executor snapshot (with unrealized P&L), the report from the log."""
    # a ledger the executor wrote: one open EVXBTC position (100 at 1e-05, fee 1e-06, its close
    # begun) and one BUY in flight
    for path in (LEDGER_V1 / "positions").iterdir():
        (api.state.positions / path.name).write_bytes(path.read_bytes())
    status, body, _ = await api.call("GET", "/v1/positions")
    assert status == 200 and body["count"] == 1 and body["orders_in_flight"] == 1
    pos = body["positions"][0]
    assert "fill_env" not in pos and pos["closing"] == {"reason": "timeout", "attempted": True}
    assert pos["unrealized_pnl"] == pytest.approx(100 * 5e-06 - 1e-06)
    status, body, _ = await api.call("GET", "/v1/report")
    assert status == 200 and body["signals"]["total"] == 0
    (api.state.positions / "executor.json").write_text("{torn")
    assert (await api.call("GET", "/v1/positions"))[0] == 503


async def test_a_crashing_view_is_a_json_500_and_the_server_lives(api: Api, monkeypatch):
    """An exception inside a view answers 500 JSON; the next request is served."""
    import hope.gateway.app as mod

    def boom(*a):
        raise RuntimeError("bug")
    monkeypatch.setattr(mod, "summarize", boom)
    status, body, _ = await api.call("GET", "/v1/report")
    assert status == 500 and body["detail"] == "RuntimeError"
    assert (await api.call("GET", "/v1/trading"))[0] == 200
