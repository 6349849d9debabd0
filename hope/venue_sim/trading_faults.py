"""Trading fault knobs: what the stand-in does to order replies, queries and the request budget,
set at run time through ``/sim/v1/trading-fault`` (:mod:`hope.venue_sim.trading_admin`).

- ``reply``: the next ``count`` orders are placed (and matched) but the reply is HTTP
  ``status`` (5xx: a bare error page) or the venue's JSON with an unknown-outcome ``code``
  (-1007, -1006, -1001; the docs give no HTTP status: 408 for -1007, 500 for the others by
  default) instead of the order: the client cannot know although the order exists;
- ``not_found``: ``GET /api/v3/order`` answers -2013 for orders placed less than ``ms`` ago;
- ``ban``: after ``after`` more requests, ``count_429`` requests get 429 (``Retry-After``),
  then every request gets 418 for ``ban_s`` seconds (an IP ban, ``Retry-After`` the rest);
- ``hold``: the reply to each of the next ``count`` orders is held, after the order was placed
  (``when = "after"``) or before it is (``"before"``), until released: ``reply`` (as normal),
  ``drop`` (the connection is cut, no reply; a held "before" order is then never placed) or
  ``5xx``; a "before" request released past its ``recvWindow`` is refused (-1021). A test
  waits for a held order, kills its client, then releases.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hope.venue_sim.limits import Verdict

RELEASE_ACTIONS = ("reply", "drop", "5xx")
# the venue's "execution status unknown" codes (errors.md) and their messages
UNKNOWN_OUTCOME = {
    -1007: "Timeout waiting for response from backend server. Send status unknown; execution "
           "status unknown.",
    -1006: "An unexpected response was received from the message bus. Execution status "
           "unknown.",
    -1001: "Internal error; unable to process your request. Please try again.",
}


@dataclass
class Held:
    hold_id: int
    when: str                         # "after" | "before"
    client_order_id: str
    symbol: str
    order_id: int | None = None       # known once placed
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop()
                                   .create_future())

    def row(self) -> dict[str, Any]:
        return {"hold_id": self.hold_id, "when": self.when, "symbol": self.symbol,
                "clientOrderId": self.client_order_id, "orderId": self.order_id}


@dataclass
class Ban:
    after: int
    count_429: int
    ban_s: float
    banned_until: float = 0.0


class TradingFaults:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.reply_status = 0
        self.reply_count = 0
        self.reply_code: int | None = None
        self.not_found_ms = 0.0
        self.ban: Ban | None = None
        self.hold_count = 0
        self.hold_when = "after"
        self.held: dict[int, Held] = {}
        self.next_hold = 1
        self.fired: list[str] = []
        self._changed = asyncio.Event()

    # --- order replies ---------------------------------------------------------------------
    def set_reply(self, status: int, count: int, code: int | None = None) -> None:
        """The next ``count`` orders answered HTTP ``status``: an error page, or the venue's
        JSON with ``code`` (one of UNKNOWN_OUTCOME) when given."""
        if code is not None and code not in UNKNOWN_OUTCOME:
            raise ValueError(f"code: one of {', '.join(map(str, UNKNOWN_OUTCOME))}")
        self.reply_status, self.reply_count, self.reply_code = status, count, code

    def take_reply_fault(self) -> tuple[int, int | None] | None:
        """The faulty reply for this order, (status, code or None), consuming one."""
        if self.reply_count <= 0:
            return None
        self.reply_count -= 1
        self.fired.append(f"reply {self.reply_status} {self.reply_code or ''}".strip())
        return self.reply_status, self.reply_code

    def hidden(self, order_time_ms: int, now_ms: float) -> bool:
        """Does a query for an order placed at ``order_time_ms`` get a false -2013?"""
        return self.not_found_ms > 0 and now_ms - order_time_ms < self.not_found_ms

    # --- holds -----------------------------------------------------------------------------
    def set_hold(self, count: int, when: str) -> None:
        if when not in ("after", "before"):
            raise ValueError("when: 'after' or 'before'")
        self.hold_count, self.hold_when = count, when

    def hold(self, when: str, symbol: str, client_order_id: str) -> Held | None:
        """A new hold for this order when one is armed for ``when``; None else."""
        if self.hold_count <= 0 or self.hold_when != when:
            return None
        self.hold_count -= 1
        held = Held(self.next_hold, when, client_order_id, symbol)
        self.next_hold += 1
        self.held[held.hold_id] = held
        self.fired.append(f"hold {when} {client_order_id}")
        self._changed.set()
        return held

    async def wait(self, held: Held) -> str:
        try:
            return await held.future
        finally:
            self.held.pop(held.hold_id, None)

    async def wait_held(self, timeout_s: float) -> list[Held]:
        """The orders held now, waiting up to ``timeout_s`` for the first one."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self.held:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                break
        return list(self.held.values())

    def release(self, hold_id: int | None, action: str) -> int:
        """Release one held reply (or every one with ``hold_id`` None); how many."""
        if action not in RELEASE_ACTIONS:
            raise ValueError(f"action: one of {', '.join(RELEASE_ACTIONS)}")
        chosen = list(self.held.values()) if hold_id is None else (
            [self.held[hold_id]] if hold_id in self.held else [])
        for held in chosen:
            if not held.future.done():
                held.future.set_result(action)
        return len(chosen)

    # --- request budget --------------------------------------------------------------------
    def set_ban(self, after: int, count_429: int, ban_s: float) -> None:
        self.ban = Ban(after, count_429, ban_s)

    def override(self, verdict: Verdict) -> Verdict:
        """The weight limiter's verdict, or the 429/418 the ban knob calls for."""
        ban = self.ban
        if ban is None:
            return verdict
        now = self.clock()
        if ban.banned_until:
            if now < ban.banned_until:
                return Verdict(418, verdict.used, math.ceil(ban.banned_until - now))
            self.ban = None
            return verdict
        if ban.after > 0:
            ban.after -= 1
            return verdict
        if ban.count_429 > 0:
            ban.count_429 -= 1
            self.fired.append("429")
            return Verdict(429, verdict.used, max(1, math.ceil(60 - now % 60)))
        ban.banned_until = now + ban.ban_s
        self.fired.append("418")
        return Verdict(418, verdict.used, math.ceil(ban.ban_s))
