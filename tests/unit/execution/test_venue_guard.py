"""The executor's venue guard on a REST client's seams: timestamps corrected, requests refused
locally during a ban, breaker venue_guard with the reason, ALERTs once."""

from __future__ import annotations

import pytest

from hope.clock import ManualClock
from hope.execution.venue_guard import VenueGuard
from hope.venue.errors import NotSent
from hope.venue.rest import Reply, Request

T0 = 1_700_000_040.0


class FakeRest:
    """The seams of hope.venue.rest.VenueRest, and a /time whose clock is ``skew_ms`` off."""

    def __init__(self, clock: ManualClock, skew_ms: float) -> None:
        self.clock, self.skew_ms = clock, skew_ms
        self.offset_ms = lambda: 0.0
        self.before_send = None
        self.on_headers = None
        self.replies: list = []
        self.on_reply = self.replies.append

    async def public(self, method, path, params=None, *, weight=1):
        self.before_send(Request(method, path, dict(params or {}), False, weight))
        return {"serverTime": round(self.clock.time() * 1000 + self.skew_ms)}


def guard(tmp_path, skew_ms=0.0):
    clock = ManualClock(T0)
    rest = FakeRest(clock, skew_ms)
    g = VenueGuard(clock=clock, max_offset_ms=1000, refresh_s=300,
                   state_path=tmp_path / "orders_today.jsonl")
    g.install(rest)   # type: ignore[arg-type]
    return g, rest, clock


async def test_the_first_estimate_closes_the_guard_and_stamps_follow_the_venue(tmp_path):
    """Open until the first estimate; then closed, and the client's offset is the venue's."""
    g, rest, _ = guard(tmp_path, skew_ms=300)
    assert g.state == "open" and "unknown" in g.reason
    assert await g.tick() == ("open", "closed") and g.refusal() is None
    assert rest.offset_ms() == pytest.approx(300, abs=2)


async def test_a_skew_beyond_the_threshold_opens_it_with_one_alert(tmp_path):
    """2.5 s off: open with the reason, ALERT venue_clock_offset once, BUYs refused with it."""
    g, _, _ = guard(tmp_path, skew_ms=-2500)
    await g.tick()
    assert g.state == "open" and "clock offset 2500 ms > 1000 ms" in g.reason
    assert [a["kind"] for a in g.take_alerts()] == ["venue_clock_offset"]
    await g.tick()
    assert g.take_alerts() == []
    assert (g.refusal() or "").startswith("venue guard open: breaker open: clock offset")


async def test_a_ban_refuses_every_request_locally_and_opens_the_guard(tmp_path):
    """418 from the venue: ALERT venue_banned; every request NotSent until Retry-After."""
    g, rest, clock = guard(tmp_path)
    await g.tick()
    req = Request("GET", "/api/v3/account", {}, True, 20)
    rest.on_headers(req, 418, {"Retry-After": "60"})
    [alert] = g.take_alerts()
    assert alert["kind"] == "venue_banned" and alert["path"] == "/api/v3/account"
    with pytest.raises(NotSent, match="IP ban"):
        rest.before_send(Request("POST", "/api/v3/order", {}, True, 1, is_order=True))
    assert await g.tick() == ("closed", "open") and "IP ban" in g.reason
    clock.advance(61)
    assert await g.tick() == ("open", "closed")


async def test_1021_in_a_reply_makes_an_estimate_due_and_replies_still_reach_the_adapter(tmp_path):
    """The chained on_reply sees -1021 (new estimate due) and hands every reply on."""
    g, rest, _ = guard(tmp_path)
    await g.tick()
    assert not g.clock.due()
    reply = Reply("GET", "/api/v3/account", {}, 400, {"code": -1021, "msg": "outside"}, T0, 1.0)
    rest.on_reply(reply)
    assert g.clock.due() and rest.replies == [reply]


async def test_the_venues_order_limits_are_learnt_and_refused_before_the_venue(tmp_path):
    """ORDERS 10 per 10 s from exchangeInfo: the tenth order (share 0.9 → 9) is NotSent."""
    g, rest, _ = guard(tmp_path)
    g.learn_limits([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                     "limit": 10}])
    order = Request("POST", "/api/v3/order", {}, True, 1, is_order=True)
    for _ in range(9):
        rest.before_send(order)
    with pytest.raises(NotSent, match="order count 9"):
        rest.before_send(order)
    g.close()
