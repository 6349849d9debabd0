"""The OpenAPI description matches the implementation: same routes, every documented status produced.

schemathesis is not installed here, so the test walks the document itself: each (path, method,
status) it lists has a recipe below that must produce exactly that status, and every route the
app serves must be documented.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from hope.clock import ManualClock
from hope.envelope import new_event
from hope.gateway.app import OPENAPI_PATH, GatewayApp, route_table
from hope.gateway.auth import token_id
from hope.gateway.config import GatewayConfig
from hope.paths import StatePaths
from tests.helpers import GATEWAY_TOKEN as TOKEN
from tests.helpers import Recorder, answering, write_audit

SPEC = json.loads(OPENAPI_PATH.read_text())
GOOD = {"Authorization": f"Bearer {TOKEN}"}
BAD = {"Authorization": "Bearer " + "x" * 32}
SIG = {"symbol": "EVXBTC", "price": 1.0, "market_ts": 1.0}

# (path, method, status) -> (concrete path, headers, json body, setup step)
RECIPES = {
    ("/v1/openapi.json", "get", "200"): ("/v1/openapi.json", {}, None, None),
    ("/v1/signals", "post", "202"): ("/v1/signals", GOOD, SIG, None),
    ("/v1/signals", "post", "400"): ("/v1/signals", GOOD, [1], None),
    ("/v1/signals", "post", "413"): ("/v1/signals", GOOD, {**SIG, "pad": "x" * 5000}, None),
    ("/v1/signals", "post", "422"): ("/v1/signals", GOOD, {"symbol": "X"}, None),
    ("/v1/signals", "post", "503"): ("/v1/signals", GOOD, SIG, "bus_down"),
    ("/v1/signals", "post", "409"): ("/v1/signals", {**GOOD, "Idempotency-Key": "k1"}, SIG,
                                     "pending"),
    ("/v1/events/{correlation_id}", "get", "200"): ("/v1/events/c1", GOOD, None, "audit"),
    ("/v1/events/{correlation_id}", "get", "400"): ("/v1/events/a%20b", GOOD, None, None),
    ("/v1/events/{correlation_id}", "get", "404"): ("/v1/events/none", GOOD, None, None),
    ("/v1/positions", "get", "200"): ("/v1/positions", GOOD, None, None),
    ("/v1/positions", "get", "503"): ("/v1/positions", GOOD, None, "torn_positions"),
    ("/v1/report", "get", "200"): ("/v1/report", GOOD, None, None),
    ("/v1/trading", "get", "200"): ("/v1/trading", GOOD, None, None),
    ("/v1/trading/{action}", "post", "200"): ("/v1/trading/halt", GOOD, None, None),
    ("/v1/trading/{action}", "post", "404"): ("/v1/trading/explode", GOOD, None, None),
    ("/v1/trading/{action}", "post", "503"): ("/v1/trading/halt", GOOD, None, "bus_down"),
}
AUTH_STATUSES = {"401": {}, "403": BAD, "429": GOOD, "421": {**GOOD, "Host": "evil.example"}}


def documented() -> set[tuple[str, str, str]]:
    return {(path, method, status) for path, item in SPEC["paths"].items()
            for method, op in item.items() for status in op["responses"]}


def concrete(path: str) -> str:
    return path.replace("{correlation_id}", "c1").replace("{action}", "halt")


def test_every_route_is_documented_and_every_documented_route_exists(tmp_path):
    """The app's (path, method) set equals the OpenAPI document's."""
    app = GatewayApp(GatewayConfig(port=0), TOKEN, StatePaths.at(tmp_path), Recorder())
    spec_routes = {(p, m) for p, item in SPEC["paths"].items() for m in item}
    assert route_table(app.app()) == spec_routes


def test_every_documented_status_has_a_recipe():
    """No documented status goes untested (and no recipe tests an undocumented one)."""
    auth = {(p, m, s) for p, m, s in documented() if s in AUTH_STATUSES}
    assert set(RECIPES) == documented() - auth


@pytest.mark.parametrize("key", sorted(documented()), ids=lambda k: f"{k[1]} {k[0]} {k[2]}")
async def test_documented_status_is_produced(tmp_path, key):
    """Each documented response status is what the implementation answers for its recipe."""
    path, method, status = key
    state = StatePaths.at(tmp_path).ensure()
    rec, clock = Recorder(), ManualClock()
    cfg = GatewayConfig(port=0, max_body_bytes=1024, rate_limit_burst=1)
    app = GatewayApp(cfg, TOKEN, state, rec, clock=clock, market_now=answering(lambda: 1.0))
    port = await app.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            if status in AUTH_STATUSES:
                target, headers, body = concrete(path), AUTH_STATUSES[status], None
                if status == "429":  # the burst of 1 is spent by a first request
                    async with http.get(base + "/v1/trading", headers=GOOD):
                        pass
            else:
                target, headers, body, step = RECIPES[key]
                if step == "bus_down":
                    rec.fail = True
                elif step == "audit":
                    sig = new_event("SIGNAL", SIG | {"strategy": "moonbot"}, source="gateway",
                                    correlation_id="c1")
                    write_audit(state.events, "signals", [sig])
                elif step == "pending":  # the same key and body, still being published
                    app.idempotency.begin((token_id(TOKEN), "k1"),
                                          app.idempotency.body_hash(json.dumps(body).encode()))
                elif step == "torn_positions":
                    (state.positions / "executor.json").write_text("{torn")
            async with http.request(method.upper(), base + target, headers=headers,
                                    json=body) as resp:
                assert resp.status == int(status)
                assert resp.content_type == "application/json"
                answer = await resp.json()
        if int(status) >= 400:
            assert {"error", "status"} <= set(answer)
        else:
            schema = SPEC["paths"][path][method]["responses"][status]["content"][
                "application/json"]["schema"]
            ref = schema.get("$ref", "").rsplit("/", 1)[-1]
            required = SPEC["components"]["schemas"][ref].get("required", []) if ref else []
            assert set(required) <= set(answer)
    finally:
        await app.stop()
