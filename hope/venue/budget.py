"""One request-weight and order-count budget per venue account, refused locally first.

The venue's limits come from ``exchangeInfo.rateLimits``: ``REQUEST_WEIGHT`` per minute (per
IP: the weight part is :class:`hope.feed.rest.WeightGate`, the one weight budget in HOPE, here
with its own ``weight_share`` so the feed's share and the executor's stay under the IP's
limit together) and ``ORDERS`` per interval (per account: 10 s and 1 day on the venue). Usage is
learnt from every answer's headers (``X-MBX-USED-WEIGHT-1M``, ``X-MBX-ORDER-COUNT-10S``,
``X-MBX-ORDER-COUNT-1D``: the venue's count wins when higher than HOPE's own). A request is
refused locally, with the reason, before the venue would refuse it: the ``order_share`` of an
order limit is the most HOPE uses (headroom for the venue's count arriving late).

- **429** (rate limit): nothing is sent until ``Retry-After`` has passed; an ALERT reason.
- **418** (IP ban): :meth:`Budget.breaker_reason` opens the executor's breaker until the ban
  expires (``Retry-After`` seconds); an ALERT reason.
- **HOPE's own daily order cap** (``max_orders_per_day``; 0 = none): every order HOPE sends
  (BUYs, exits, protective stops) on the UTC day, kept in ``state_path`` across restarts so a
  crash loop cannot reset it (an append-only journal, one line per order: durable against
  SIGKILL at once, no fsync on the order's path; rewritten once a day).

Exposure across symbols per quote currency is the money gate's ``max_total_exposure``
(:mod:`hope.execution.limits`), not repeated here. Wall clock throughout (venue windows are
calendar windows in UTC: the minute, 10 s, the day).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hope.clock import WallClock
from hope.feed.rest import DEFAULT_WEIGHT_LIMIT, WeightGate
from hope.files import atomic_write_bytes
from hope.journal import JSON, Journal, read_journal

_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
DAY_S = 86400


@dataclass(frozen=True)
class OrderLimit:
    """One ``ORDERS`` rate limit: ``limit`` orders per ``interval_num`` ``interval``."""

    interval: str          # SECOND | MINUTE | HOUR | DAY
    interval_num: int
    limit: int

    @property
    def window_s(self) -> int:
        return _SECONDS[self.interval] * self.interval_num

    @property
    def header(self) -> str:
        """``X-MBX-ORDER-COUNT-10S`` for 10 SECOND (the venue's naming)."""
        return f"X-MBX-ORDER-COUNT-{self.interval_num}{self.interval[0]}"


@dataclass(frozen=True)
class RateLimits:
    """The venue's limits that matter to one account; absent ones are not enforced."""

    weight_per_minute: int
    orders: tuple[OrderLimit, ...]

    @classmethod
    def from_exchange_info(cls, info: Mapping[str, Any]) -> RateLimits:
        """Parse ``rateLimits``; a malformed entry raises ValueError naming its index."""
        weight = DEFAULT_WEIGHT_LIMIT
        orders: list[OrderLimit] = []
        for i, lim in enumerate(info.get("rateLimits") or []):
            if not isinstance(lim, Mapping):
                raise ValueError(f"exchangeInfo.rateLimits[{i}]: not an object")
            kind, interval = lim.get("rateLimitType"), lim.get("interval")
            num, limit = lim.get("intervalNum"), lim.get("limit")
            if (interval not in _SECONDS or not isinstance(num, int) or num < 1
                    or not isinstance(limit, int) or limit < 1):
                raise ValueError(f"exchangeInfo.rateLimits[{i}]: bad interval/limit {dict(lim)}")
            if kind == "REQUEST_WEIGHT" and interval == "MINUTE" and num == 1:
                weight = limit
            elif kind == "ORDERS":
                orders.append(OrderLimit(interval, num, limit))
        return cls(weight, tuple(orders))


class _OrderWindow:
    """Orders counted in the current calendar window of one limit."""

    def __init__(self, limit: OrderLimit) -> None:
        self.limit = limit
        self.window = -1
        self.count = 0

    def roll(self, now: float) -> None:
        window = int(now // self.limit.window_s)
        if window != self.window:
            self.window, self.count = window, 0

    def seconds_left(self, now: float) -> float:
        return (self.window + 1) * self.limit.window_s - now


class Budget:
    """Weight and order budget of one account: :meth:`acquire` before, :meth:`observe` after."""

    def __init__(self, limits: RateLimits, *, clock: WallClock | None = None,
                 weight_share: float = 0.4, order_share: float = 0.9,
                 max_orders_per_day: int = 0, state_path: Path | None = None) -> None:
        if not 0 < weight_share <= 1 or not 0 < order_share <= 1:
            raise ValueError("weight_share, order_share: must be in (0, 1]")
        self.clock = clock or WallClock()
        self.weight = WeightGate(share=weight_share, limit=limits.weight_per_minute)
        self.order_share = order_share
        self.windows = [_OrderWindow(lim) for lim in limits.orders]
        self.max_orders_per_day = max_orders_per_day
        self.state_path = Path(state_path) if state_path else None
        self._journal = Journal(self.state_path) if self.state_path else None
        self.day, self.sent_today = self._load_day()
        self.refused: dict[str, int] = {}
        self.alerts: list[str] = []

    def update_limits(self, limits: RateLimits) -> None:
        """New limits (a fresh ``exchangeInfo``); the usage counted so far is kept."""
        self.weight.limit = limits.weight_per_minute
        counts = {w.limit.header: w for w in self.windows}
        self.windows = []
        for lim in limits.orders:
            w = _OrderWindow(lim)
            if (old := counts.get(lim.header)) is not None:
                w.window, w.count = old.window, old.count
            self.windows.append(w)

    def _load_day(self) -> tuple[int, int]:
        today = int(self.clock.time() // DAY_S)
        if self.state_path is None:
            return today, 0
        contents = read_journal(self.state_path)
        if contents is None:
            return today, 0
        if contents.bad or not (contents.records or contents.torn):
            raise ValueError(f"{self.state_path}: unreadable order count "
                             f"({(contents.bad or ['empty'])[0]})")
        # a torn last line is an order whose count was being written: count it (fail-closed)
        try:
            last = contents.records[-1] if contents.records else {"day": today, "orders": 0}
            day, count = int(last["day"]), int(last["orders"]) + bool(contents.torn)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{self.state_path}: unreadable order count ({exc})") from None
        if day != today:
            return today, 0
        self._rewrite(day, count)
        return day, count

    def _rewrite(self, day: int, count: int) -> None:
        assert self._journal is not None and self.state_path is not None
        self._journal.close()
        atomic_write_bytes(self.state_path, JSON.encode({"day": day, "orders": count}) + b"\n")
        self._journal.open()

    def _refuse(self, kind: str, reason: str) -> str:
        self.refused[kind] = self.refused.get(kind, 0) + 1
        return reason

    def acquire(self, weight: int, orders: int = 0) -> str | None:
        """Book a request of ``weight`` placing ``orders`` orders, or say why not (nothing
        booked then)."""
        now = self.clock.time()
        if now < self.weight.blocked_until:
            left = math.ceil(self.weight.blocked_until - now)
            kind = "banned" if now < self.weight.banned_until else "backoff"
            what = "IP ban (HTTP 418)" if kind == "banned" else "rate limit (HTTP 429)"
            return self._refuse(kind, f"venue {what}: {left} s left")
        if orders:
            reason = self._orders_refusal(now, orders)
            if reason:
                return reason
        wait = self.weight.wait(weight, now)
        if wait > 0:
            return self._refuse("weight", f"request weight {self.weight.used}+{weight} > "
                                f"{self.weight.budget} of {self.weight.limit}/min "
                                f"(share {self.weight.share:g}); {math.ceil(wait)} s to the "
                                "next minute")
        if orders:
            self._book_orders(now, orders)
        return None

    def _orders_refusal(self, now: float, orders: int) -> str | None:
        for w in self.windows:
            w.roll(now)
            cap = max(1, int(w.limit.limit * self.order_share))
            if w.count + orders > cap:
                return self._refuse("orders", f"order count {w.count}+{orders} > {cap} per "
                                    f"{w.limit.interval_num} {w.limit.interval} (venue limit "
                                    f"{w.limit.limit}); {math.ceil(w.seconds_left(now))} s left")
        self._roll_day(now)
        cap = self.max_orders_per_day
        if cap and self.sent_today + orders > cap:
            return self._refuse("daily_cap", f"limit max_orders_per_day: {self.sent_today} "
                                f"sent today (max {cap})")
        return None

    def _roll_day(self, now: float) -> None:
        today = int(now // DAY_S)
        if today != self.day:
            self.day, self.sent_today = today, 0
            if self._journal is not None:
                self._rewrite(today, 0)

    def _book_orders(self, now: float, orders: int) -> None:
        for w in self.windows:
            w.count += orders
        self.sent_today += orders
        if self._journal is not None:
            self._journal.append({"day": self.day, "orders": self.sent_today})

    def close(self) -> None:
        """Sync and close the order-count journal."""
        if self._journal is not None:
            self._journal.close()

    def observe(self, status: int, headers: Mapping[str, str]) -> str | None:
        """Learn from one answer; for 429 and 418 the ALERT reason, else None."""
        now = self.clock.time()
        bans = self.weight.bans
        self.weight.observe(status, headers, now)
        for w in self.windows:
            value = headers.get(w.limit.header)
            if value is not None:
                w.roll(now)
                try:
                    w.count = max(w.count, int(value))
                except ValueError:
                    pass
        if status not in (418, 429):
            return None
        left = math.ceil(self.weight.blocked_until - now)
        if self.weight.bans > bans:
            reason = (f"venue IP ban (HTTP 418): breaker open for {left} s (Retry-After); "
                      "every request stops until it expires")
        else:
            reason = f"venue rate limit (HTTP 429): backing off {left} s (Retry-After)"
        self.alerts.append(reason)
        return reason

    def blocked_s(self) -> float:
        """Seconds until the venue may be asked again (a 429's backoff or a 418's ban), 0 now."""
        return max(0.0, self.weight.blocked_until - self.clock.time())

    def breaker_reason(self) -> str | None:
        """While an IP ban lasts: why the executor's breaker is open."""
        now = self.clock.time()
        if now < self.weight.banned_until:
            return (f"breaker open: venue IP ban (HTTP 418) for another "
                    f"{math.ceil(self.weight.banned_until - now)} s")
        return None

    def snapshot(self) -> dict[str, Any]:
        """For the executor's heartbeat: usage against each limit, refusals, bans."""
        now = self.clock.time()
        for w in self.windows:
            w.roll(now)
        return {"weight_used_1m": self.weight.used, "weight_budget_1m": self.weight.budget,
                "orders": {w.limit.header.removeprefix("X-MBX-ORDER-COUNT-"): w.count
                           for w in self.windows},
                "orders_today": self.sent_today, "max_orders_per_day": self.max_orders_per_day,
                "refused": dict(self.refused), "rate_limited": self.weight.limited,
                "bans": self.weight.bans,
                "banned_s": max(0.0, self.weight.banned_until - now)}
