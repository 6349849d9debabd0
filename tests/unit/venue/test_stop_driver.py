"""The stop driver: protective stops placed, cleared before exits, unknown outcomes queried,
stream reports applied, state kept across restarts."""

from __future__ import annotations

from decimal import Decimal as D

from hope.clock import ManualClock
from hope.venue.stop_driver import StopDriver
from hope.venue.stops import ACTIVE, CANCELLED, LOST, UNKNOWN, ClosedByStop, ExitAllowed, plan_stop
from tests.helpers import nas_btc_rules

POS = "hope-0123456789abcdef"


class Refused(Exception):
    outcome = "refused"

    def describe(self):
        return f"venue -2010: {self}"


class Unknown(Exception):
    outcome = "unknown"


class FakeVenue:
    """Orders by client id; ``script`` maps a call name to exceptions raised first."""

    def __init__(self):
        self.orders: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []
        self.script: dict[str, list[Exception]] = {}
        self.hidden: set[str] = set()    # placed, but -2013 to queries for now

    def _raise(self, name):
        if self.script.get(name):
            raise self.script[name].pop(0)

    async def place(self, params):
        cid = params["newClientOrderId"]
        self.calls.append(("place", cid))
        self._raise("place_before")
        self.orders[cid] = {"orderId": len(self.orders) + 1, "status": "NEW",
                            "executedQty": "0", "clientOrderId": cid}
        self._raise("place_after")     # placed, but the reply is lost
        return dict(self.orders[cid])

    async def cancel(self, symbol, cid):
        self.calls.append(("cancel", cid))
        self._raise("cancel")
        o = self.orders.get(cid)
        if o is None or o["status"] != "NEW":
            return None
        o["status"] = "CANCELED"
        return dict(o)

    async def query(self, symbol, cid):
        self.calls.append(("query", cid))
        self._raise("query")
        if cid in self.hidden:
            return None
        o = self.orders.get(cid)
        return dict(o) if o else None


def driver(tmp_path, venue, clock):
    return StopDriver(tmp_path / "venue" / "stops.jsonl", place=venue.place,
                      cancel=venue.cancel, query=venue.query, grace_s=60, wall=clock.time)


def plan(gen=1):
    return plan_stop(nas_btc_rules(), POS, D("2500"), D("0.0000388"), generation=gen)


async def test_protect_then_clear_cancels_and_allows_the_exit(tmp_path):
    """The stop is placed; an exit cancels it first and is allowed once it is CANCELED."""
    venue, clock = FakeVenue(), ManualClock(0)
    d = driver(tmp_path, venue, clock)
    assert await d.protect(POS, "NASBTC", plan()) is None
    assert d.stops[POS].state == ACTIVE
    assert await d.clear(POS, "take_profit") == ExitAllowed("take_profit")
    assert venue.orders[POS + "-s1"]["status"] == "CANCELED"
    assert venue.calls == [("place", POS + "-s1"), ("cancel", POS + "-s1")]


async def test_a_lost_reply_is_queried_not_resent_and_found(tmp_path):
    """Placed, reply lost: the driver queries (never a second place) and finds it working."""
    venue, clock = FakeVenue(), ManualClock(0)
    venue.script["place_after"] = [Unknown("reset after sending")]
    d = driver(tmp_path, venue, clock)
    await d.protect(POS, "NASBTC", plan())
    assert d.stops[POS].state == ACTIVE
    assert [c[0] for c in venue.calls] == ["place", "query"]


async def test_no_such_order_inside_the_grace_waits_and_after_it_is_lost(tmp_path):
    """-2013 after an unknown placement: asked again later (no loop); past the grace: LOST."""
    venue, clock = FakeVenue(), ManualClock(0)
    venue.script["place_after"] = [Unknown("HTTP 503")]
    venue.hidden.add(POS + "-s1")
    d = driver(tmp_path, venue, clock)
    await d.protect(POS, "NASBTC", plan())
    assert d.stops[POS].state == UNKNOWN
    clock.advance(30)
    await d.resolve()
    assert d.stops[POS].state == UNKNOWN
    clock.advance(31)
    await d.resolve()
    assert d.stops[POS].state == LOST and d.alerts
    assert [c[0] for c in venue.calls].count("place") == 1


async def test_a_refused_stop_alerts_and_the_exit_is_free(tmp_path):
    """A definitive refusal: ALERT; nothing to cancel before the exit."""
    venue, clock = FakeVenue(), ManualClock(0)
    venue.script["place_before"] = [Refused("Account has insufficient balance")]
    d = driver(tmp_path, venue, clock)
    await d.protect(POS, "NASBTC", plan())
    assert "-2010" in d.alerts[0]
    assert await d.clear(POS, "timeout") == ExitAllowed("timeout")
    assert ("cancel", POS + "-s1") not in venue.calls


async def test_a_stop_filled_meanwhile_closes_the_position_instead_of_an_exit(tmp_path):
    """The cancel finds the stop gone (-2011): the query says FILLED: no exit SELL."""
    venue, clock = FakeVenue(), ManualClock(0)
    d = driver(tmp_path, venue, clock)
    await d.protect(POS, "NASBTC", plan())
    venue.orders[POS + "-s1"].update(status="FILLED", executedQty="2500")
    action = await d.clear(POS, "timeout")
    assert isinstance(action, ClosedByStop) and action.status == "filled"


async def test_stream_reports_move_the_stop_and_a_fill_is_reported(tmp_path):
    """executionReport for the stop's client id: TRADE/FILLED → ClosedByStop."""
    venue, clock = FakeVenue(), ManualClock(0)
    d = driver(tmp_path, venue, clock)
    await d.protect(POS, "NASBTC", plan())
    ev = {"e": "executionReport", "c": POS + "-s1", "C": "", "x": "TRADE", "X": "FILLED",
          "z": "2500"}
    assert isinstance(d.on_execution_report(ev), ClosedByStop)
    assert d.on_execution_report({**ev, "c": "someone-else"}) is None


async def test_state_survives_a_restart_and_forgotten_stops_stay_forgotten(tmp_path):
    """A restart reloads each stop's last state; a forgotten one is gone; the file is compact."""
    venue, clock = FakeVenue(), ManualClock(0)
    d = driver(tmp_path, venue, clock)
    await d.protect(POS, "NASBTC", plan())
    await d.protect("hope-other", "NASBTC", plan_stop(nas_btc_rules(), "hope-other", D("2500"),
                                                      D("0.0000388")))
    await d.clear("hope-other", "flatten")
    d.forget("hope-other")
    d.close()
    again = driver(tmp_path, venue, clock)
    assert set(again.stops) == {POS} and again.stops[POS].state == ACTIVE
    assert len(again.path.read_text().splitlines()) == 1
    await again.clear(POS, "flatten")
    assert again.stops[POS].state == CANCELLED


class NotSent(Exception):
    """As hope.venue.errors.NotSent: refused, and no HTTP status (nothing left)."""

    outcome = "refused"
    http_status = None


async def test_a_stop_not_sent_is_placed_again_later(tmp_path):
    """Refused locally before sending (a budget, the clock guard): no ALERT, unprotected, and
    the next protect places it."""
    venue, clock = FakeVenue(), ManualClock(0)
    venue.script["place_before"] = [NotSent("refused locally: order count 9+1 > 9")]
    d = driver(tmp_path, venue, clock)
    await d.protect(POS, "NASBTC", plan())
    assert d.alerts == [] and d.unprotected() == [POS]
    await d.protect(POS, "NASBTC", plan(gen=d.stops[POS].next_generation()))
    assert d.stops[POS].state == ACTIVE and d.unprotected() == []
