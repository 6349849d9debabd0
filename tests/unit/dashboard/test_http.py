"""The dashboard's HTTP server on a real socket: read token and session cookie, snapshot,
server-sent events resumed by Last-Event-ID, control refusals, security headers."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from hope.audit.trace import AmbiguousPrefix
from hope.dashboard.config import DashboardConfig
from hope.dashboard.http import DashboardHttp
from hope.dashboard.model import DashboardModel, record_of
from hope.dashboard.stream import UpdateLog
from hope.envelope import new_event

TOKEN = "read-token-0123456789abcdef"


class Dash:
    def __init__(self) -> None:
        self.model = DashboardModel()
        self.updates = UpdateLog(100)
        self.gateway: str | None = None

    def price(self, px: float, t: float) -> None:
        env = new_event("PRICE", {"symbol": "NASBTC", "price": px, "market_ts": t},
                        source="scanner")
        self.updates.append(self.model.apply(record_of(env)))


@pytest.fixture
async def dash():
    d = Dash()

    async def trace_of(cid: str):
        if cid == "kn":
            raise AmbiguousPrefix(cid, ["known", "knot"])
        return [{"event_type": "SIGNAL", "timestamp": "t", "source": "scanner",
                 "summary": {"price": 0.0000152}}] if cid == "known" else []

    http = DashboardHttp(DashboardConfig(port=0), TOKEN, d.updates, d.model.snapshot, trace_of,
                         lambda: d.gateway, resume_allowed=False)
    port = await http.start()
    # unsafe: keep cookies of an IP host (127.0.0.1), as browsers do
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        d.base, d.session, d.http = f"http://127.0.0.1:{port}", session, http
        yield d
    http.kill()
    await http.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_without_the_read_token_nothing_is_shown(dash):
    """No token: 401 (an HTML hint for the page, JSON for the API); static files are public."""
    async with dash.session.get(dash.base + "/") as r:
        assert r.status == 401 and "Read token needed" in await r.text()
    async with dash.session.get(dash.base + "/api/snapshot",
                                headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}) as r:
        assert r.status == 401 and (await r.json())["error"] == "read token required"
    async with dash.session.get(dash.base + "/static/dashboard.js") as r:
        assert r.status == 200 and "hopeDashboard" in await r.text()
    async with dash.session.get(dash.base + "/static/plotly.min.js") as r:
        assert r.status == 200 and len(await r.read()) > 1_000_000


async def test_token_in_the_url_becomes_a_session_cookie_and_leaves_the_url(dash):
    """/?token= answers 303 to / with an HttpOnly SameSite=Strict cookie that is not the token."""
    async with dash.session.get(dash.base + f"/?token={TOKEN}", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/"
        cookie = r.cookies["hope_dashboard"]
        assert cookie.value != TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    async with dash.session.get(dash.base + "/") as r:  # the jar sends the cookie
        assert r.status == 200 and "HOPE dashboard" in await r.text()
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"


async def test_a_foreign_host_header_is_refused(dash):
    """A DNS-rebinding page (Host: evil.example) reads nothing: 421."""
    async with dash.session.get(dash.base + "/api/snapshot",
                                headers={**AUTH, "Host": "evil.example"}) as r:
        assert r.status == 421


async def read_events(resp: aiohttp.ClientResponse, n: int) -> list[dict]:
    events, current = [], {}
    while len(events) < n:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return events


async def test_stream_starts_with_a_snapshot_and_resumes_after_last_event_id(dash):
    """A first connection gets a snapshot then updates; a reconnection with Last-Event-ID
    gets exactly what it missed, no snapshot."""
    dash.price(0.0000150, 100.0)
    async with dash.session.get(dash.base + "/api/stream", headers=AUTH) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        (snap,) = await read_events(r, 1)
        assert snap["event"] == "snapshot"
        assert json.loads(snap["data"])["snapshot"]["symbols"]["NASBTC"]["prices"] == [
            [100.0, 0.000015]]
        dash.price(0.0000151, 101.0)
        (live,) = await read_events(r, 1)
        last_id = live["id"]
        assert json.loads(live["data"])["updates"][0]["price"] == 0.0000151
    dash.price(0.0000152, 102.0)  # while disconnected
    dash.price(0.0000153, 103.0)
    async with dash.session.get(dash.base + "/api/stream",
                                headers={**AUTH, "Last-Event-ID": last_id}) as r:
        resumed, a, b = await read_events(r, 3)
        assert resumed["event"] == "resumed" and json.loads(resumed["data"])["missed"] == 2
        assert [json.loads(e["data"])["updates"][0]["price"] for e in (a, b)] == [
            0.0000152, 0.0000153]
    async with dash.session.get(dash.base + "/api/stream",
                                headers={**AUTH, "Last-Event-ID": "otherprocess-1"}) as r:
        (snap,) = await read_events(r, 1)
        assert snap["event"] == "snapshot"  # an id of another process: start over


async def control(dash, action: str, token: str | None, confirm: str | None):
    headers = dict(AUTH)
    if token:
        headers["X-Hope-Control-Token"] = token
    async with dash.session.post(dash.base + f"/api/control/{action}", headers=headers,
                                 json={"confirm": confirm} if confirm else {}) as r:
        return r.status, await r.json()


async def test_the_kill_switch_refuses_without_token_confirmation_or_gateway(dash):
    """Halt without a control token: 401; unconfirmed: 400; resume: CLI-only 403; no gateway
    known: 503. Nothing is forwarded."""
    assert (await control(dash, "halt", None, "halt"))[0] == 401
    assert (await control(dash, "halt", "some-control-token", None))[0] == 400
    status, body = await control(dash, "resume", "some-control-token", "resume")
    assert status == 403 and "CLI-only" in body["error"]
    assert (await control(dash, "halt", "some-control-token", "halt"))[0] == 503
    assert (await control(dash, "explode", "t", "explode"))[0] == 404
    assert dash.http.counts["control_forwarded"] == 0


async def test_trace_page_formats_numbers(dash):
    """/trace/<id> lists the hops with prices in significant digits; unknown ids are 404."""
    async with dash.session.get(dash.base + "/trace/known", headers=AUTH) as r:
        assert r.status == 200 and "price=0.0000152" in await r.text()
    async with dash.session.get(dash.base + "/api/trace/unknown", headers=AUTH) as r:
        assert r.status == 404


async def test_a_trace_prefix_two_ids_share_is_409_naming_them(dash):
    """/trace/<prefix> and /api/trace/<prefix> of an ambiguous prefix: 409 with the candidates."""
    for path in ("/trace/kn", "/api/trace/kn"):
        async with dash.session.get(dash.base + path, headers=AUTH) as r:
            assert r.status == 409 and "known, knot" in await r.text()
