"""The steps of ``scripts/chaos --venue``: each injects one kill or fault into the live system
and waits until HOPE has dealt with the order it hit; it returns a line for the table (or
raises when HOPE did not recover in time). Each counts the order it hit at the venue itself.

Kill points (BUY and exit): ``before the send`` and ``after the reply, before the ledger``
are crash points (the executor kills itself there, :mod:`hope.crashpoints`); ``after the
send, before the reply`` holds the stand-in's reply, SIGKILLs the executor once
``/sim/v1/held`` shows the order, then releases the reply to the dead connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hope.chaos.venue_books import STOP_RE, entry_of
from hope.crashpoints import arm
from hope.venue.guards import ALERT_BANNED, ALERT_CLOCK, ALERT_RATE_LIMITED

EXIT = "-x"
RESOLVE_S = 60.0    # wall s for HOPE to settle the order a fault hit
ORDER_S = 90.0      # wall s for the next order to come


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Any], str]
    short: bool = False   # also in the suite's short run


def kind_of(cid: str) -> str:
    """``buy``, ``exit`` (the ``-x`` SELL) or ``stop`` (a protective stop ``-sN``)."""
    if cid.endswith(EXIT):
        return "exit"
    return "stop" if STOP_RE.match(cid) else "buy"


def venue_ids(r: Any) -> set[str]:
    return {o["clientOrderId"] for o in r.sim.orders()}


def next_order(r: Any, before: set[str], what: str, timeout: float = ORDER_S) -> str:
    """The client id of the first venue order not in ``before``, waiting for it."""
    new = r.wait(lambda: [cid for cid in (o["clientOrderId"] for o in r.sim.orders())
                          if cid not in before], timeout, what)
    return new[0]


def alert_count(r: Any, kinds: tuple[str, ...]) -> int:
    """How many ALERTs of these kinds the audit log holds."""
    return sum(x.get("event_type") == "ALERT" and x["payload"].get("kind") in kinds
               for x in r.records())


def venue_count(r: Any, cid: str) -> int:
    return sum(o["clientOrderId"] == cid for o in r.sim.orders())


def settled(r: Any, cid: str) -> str:
    """Wait until HOPE finished the order ``cid`` (BUY: its terminal ORDER; exit: the CLOSE;
    a protective stop: the CLOSE, or HOPE's query that found it); what settled it."""
    def done() -> str | None:
        recs = r.records()
        if kind_of(cid) != "buy":
            entry = entry_of(cid)
            if any(x.get("event_type") == "CLOSE" and x["payload"]["order_id"] == entry
                   for x in recs):
                return "CLOSE"
            if kind_of(cid) == "stop" and any(  # a stop of unknown outcome: HOPE found it
                    x.get("event_type") == "VENUE_REPLY" and x["payload"].get("method") == "GET"
                    and x["payload"].get("status") == 200
                    and (x["payload"].get("params") or {}).get("origClientOrderId") == cid
                    for x in recs):
                return "stop found by query"
            return None
        statuses = [x["payload"]["status"] for x in recs if x.get("event_type") == "ORDER"
                    and x["payload"]["order_id"] == cid and x["payload"]["status"] != "UNKNOWN"]
        return statuses[-1] if statuses else None
    return r.wait(done, RESOLVE_S, f"HOPE to settle {cid}")


def _expect(r: Any, cid: str, want: int) -> str:
    status = settled(r, cid)
    n = venue_count(r, cid)
    if n != want:
        raise AssertionError(f"{cid}: {n} venue order(s), expected {want}")
    return f"{cid[:14]}…: {status}, {n} venue order(s)"


def crash(point: str, want: int) -> Callable[[Any], str]:
    """The executor kills itself at ``point``; the order it was placing is counted."""
    def step(r: Any) -> str:
        old = r.executor_pid()
        hit = arm(r.crash_dir, point)
        cid = r.wait(lambda: hit.exists() and hit.read_text(), ORDER_S,
                     f"the executor to reach {point}")
        r.kills_us.append(int(time.time() * 1e6))
        r.wait_restarted(old)
        return _expect(r, cid, want)
    return step


def hold(side: str, when: str, action: str, want: int) -> Callable[[Any], str]:
    """Hold the venue's reply to the next ``side`` order, SIGKILL the executor, release."""
    def step(r: Any) -> str:
        deadline = time.monotonic() + ORDER_S
        while True:
            r.sim.hold(when=when)
            held = r.sim.wait_held(min(60.0, max(1.0, deadline - time.monotonic())))
            if not held:
                raise TimeoutError(f"no {side} order held within {ORDER_S:g}s")
            h = held[0]
            if kind_of(h["clientOrderId"]) == side:
                break
            r.sim.release(h["hold_id"], "reply")  # another kind: let it through, try again
        old = r.kill_executor()
        r.sim.release(h["hold_id"], action)
        r.wait_restarted(old)
        return _expect(r, h["clientOrderId"], want)
    return step


def fault(kind: str, **params: Any) -> Callable[[Any], str]:
    """A trading fault on the next order(s); the first order placed after it is counted."""
    def step(r: Any) -> str:
        before = venue_ids(r)
        if kind == "not_found":
            r.sim.fault("not_found", ms=params["ms"])
            r.sim.fault("reply_5xx", status=503, count=1)
        else:
            r.sim.fault(kind, **params)
        new = next_order(r, before, f"an order after the {kind} fault")
        try:
            return f"{kind}: " + _expect(r, new, 1)
        finally:
            r.sim.fault("clear")
            r.sim.fault("not_found", ms=0)
    return step


def stream_drop(r: Any) -> str:
    """Cut every user-stream connection; the next order still settles once."""
    cut = r.sim.fault("stream_drop", after_events=0).get("connections", 0)
    new = next_order(r, venue_ids(r), "an order after it")
    return f"{cut} user-stream connection(s) cut; " + _expect(r, new, 1)


def outage(r: Any) -> str:
    """The venue away for 3 s (market and WebSocket API cut, REST 503); orders settle."""
    r.sim.stream_fault("outage", 3.0)
    new = next_order(r, venue_ids(r), "an order after it")
    return "venue outage 3 s; " + _expect(r, new, 1)


def ban(r: Any) -> str:
    """A 429, then an IP ban (every request 418) for 15 s: the executor's breaker opens with an
    ALERT and nothing is sent until it ends; the next order after it is placed once."""
    kinds = (ALERT_RATE_LIMITED, ALERT_BANNED)
    alerts, refused = alert_count(r, kinds), r.sim.status()["rest"]["refused"]
    before = venue_ids(r)
    r.sim.fault("ban", after=0, count_429=1, ban_s=15.0)
    try:
        r.wait(lambda: alert_count(r, kinds) > alerts, ORDER_S, "an ALERT of the ban")
        # the 429's Retry-After runs to the end of the venue's minute (up to 60 s), then the
        # ban, then the exchange breaker's half-open timer if BUYs were refused meanwhile
        new = next_order(r, before, "an order after the ban", ORDER_S + 90.0)
    finally:
        r.sim.fault("clear")
    now = r.sim.status()["rest"]["refused"]
    answered = {code: now.get(code, 0) - refused.get(code, 0) for code in ("429", "418")}
    return (f"429 x{answered['429']}, 418 x{answered['418']} (every HOPE process); "
            + _expect(r, new, 1))


def clock_behind(r: Any) -> str:
    """The venue's clock 2.5 s behind: a signed request is refused (-1021), the re-estimate
    opens the executor's breaker with an ALERT; once the clock is put right the breaker closes
    by itself and the next order is placed once."""
    alerts = alert_count(r, (ALERT_CLOCK,))
    r.sim.skew(-2500)
    try:
        r.wait(lambda: alert_count(r, (ALERT_CLOCK,)) > alerts, ORDER_S,
               "an ALERT of the clock offset")
    finally:
        r.sim.skew(0)
    fixed = time.monotonic()
    new = next_order(r, venue_ids(r), "an order after the clock was put right")
    return (f"venue clock 2.5 s behind: ALERT, breaker open; put right, next order "
            f"{time.monotonic() - fixed:.0f} s later; " + _expect(r, new, 1))


def halt_under_load(r: Any) -> str:
    """Halt for 4 s under load, then resume (the table checks nothing reached the venue)."""
    r.hope("trading", "halt")
    time.sleep(4.0)  # the span under test, not a synchronisation
    r.hope("trading", "resume")
    return "halted 4 s, resumed"


STEPS = [
    Step("SIGKILL BUY before the send", crash("buy.before_send", 0), short=True),
    Step("SIGKILL BUY after the send, before the reply", hold("buy", "after", "reply", 1),
         short=True),
    Step("SIGKILL BUY after the reply, before the ledger", crash("buy.after_reply", 1),
         short=True),
    Step("SIGKILL exit before the send", crash("exit.before_send", 1)),
    Step("SIGKILL exit after the send, before the reply", hold("exit", "after", "reply", 1)),
    Step("SIGKILL exit after the reply, before the ledger", crash("exit.after_reply", 1),
         short=True),
    Step("SIGKILL BUY in flight, request dropped (hold before)",
         hold("buy", "before", "drop", 0)),
    Step("SIGKILL BUY in flight, placed after the kill (hold before)",
         hold("buy", "before", "reply", 1)),
    Step("reply 503 (order placed)", fault("reply_5xx", status=503, count=1), short=True),
    Step("reply -1007 (order placed)", fault("reply_error", code=-1007, count=1), short=True),
    Step("reply -1006 (order placed)", fault("reply_error", code=-1006, count=1)),
    Step("reply -1001 (order placed)", fault("reply_error", code=-1001, count=1)),
    Step("-2013 for 2.5 s after placement, reply 503", fault("not_found", ms=2500)),
    Step("user stream dropped", stream_drop),
    Step("venue outage (streams cut, REST 503)", outage),
    Step("429, then an IP ban (418) for 15 s", ban),
    Step("venue clock 2.5 s behind, then put right", clock_behind),
    Step("halt under load, resume", halt_under_load),
]
