"""The venue's time and rate guards around the live executor's REST client: breaker ``venue_guard``.

Installed on :class:`~hope.venue.rest.VenueRest`'s seams: ``offset_ms`` stamps every signed
request with the venue's time (:class:`~hope.venue.clock.ClockOffset`), ``before_send``
books each request in the account's :class:`~hope.venue.budget.Budget` and refuses locally
(:class:`~hope.venue.errors.NotSent`, nothing leaves) what the venue would refuse; ``on_headers`` feeds the budget the venue's usage and
its 429/418; ``on_reply`` notices ``-1021`` (a new clock estimate at once).

:meth:`VenueGuard.tick` (every second, from the service) re-estimates the offset when due and
sets the breaker: ``open`` with the reason while the offset is beyond the threshold or unknown,
or an IP ban lasts; ``closed`` otherwise. Its BREAKER events carry the reason, so the decision
engine SKIPs with it; :meth:`take_alerts` are the ALERTs to publish (429, 418, clock).
"""

from __future__ import annotations

from typing import Any

from hope.clock import WallClock
from hope.venue.budget import Budget, RateLimits
from hope.venue.clock import ClockEstimateError, ClockOffset
from hope.venue.errors import NotSent, VenueError
from hope.venue.guards import (
    ALERT_BANNED,
    ALERT_CLOCK,
    ALERT_RATE_LIMITED,
    breaker_reason,
    heartbeat_table,
)
from hope.venue.rest import Reply, Request, VenueRest

CLOSED, OPEN = "closed", "open"
TIME_WEIGHT = 1
DEFAULT_LIMITS = RateLimits(6000, ())   # until exchangeInfo says more


class VenueGuard:
    name = "venue_guard"

    def __init__(self, *, clock: WallClock | None = None, max_offset_ms: float = 1000.0,
                 refresh_s: float = 300.0, weight_share: float = 0.4,
                 max_orders_per_day: int = 0, state_path: Any = None, log: Any = None) -> None:
        self.wall = clock or WallClock()
        self.log = log
        self.rest: VenueRest | None = None
        self.clock = ClockOffset(self._server_ms, clock=self.wall, max_offset_ms=max_offset_ms,
                                 refresh_s=refresh_s)
        self.budget = Budget(DEFAULT_LIMITS, clock=self.wall, weight_share=weight_share,
                             max_orders_per_day=max_orders_per_day, state_path=state_path)
        self.state = OPEN
        self.reason = self.clock.breaker_reason() or ""
        self._alerts: list[dict[str, Any]] = []
        self._limits_seen: list[dict[str, Any]] | None = None
        self._clock_alerted = False

    # --- the REST client's seams --------------------------------------------------------------
    def install(self, rest: VenueRest) -> None:
        """Hook into ``rest`` (after the adapter took its ``on_reply``: chained)."""
        self.rest = rest
        rest.offset_ms = lambda: self.clock.offset_ms or 0.0
        rest.before_send = self.before_send
        rest.on_headers = self.on_headers
        previous = rest.on_reply

        def on_reply(reply: Reply) -> None:
            body = reply.body
            if isinstance(body, dict) and isinstance(body.get("code"), int):
                self.clock.on_venue_error(body["code"])
            if previous is not None:
                previous(reply)

        rest.on_reply = on_reply

    def before_send(self, req: Request) -> None:
        """The budget's refusal, before anything leaves. The clock holds back BUYs only (the
        executor's own check, :meth:`refusal`): an exit or a stop stamped with an offset in
        doubt is at worst refused by the venue with -1021, never a risk taken."""
        refusal = self.budget.acquire(req.weight, int(req.is_order))
        if refusal is not None:
            raise NotSent(f"refused locally: {refusal}")

    def on_headers(self, req: Request, status: int, headers: Any) -> None:
        alert = self.budget.observe(status, headers)
        if alert is not None:
            self._alerts.append({"kind": ALERT_BANNED if status == 418 else ALERT_RATE_LIMITED,
                                 "detail": alert, "path": req.path})

    async def _server_ms(self) -> int:
        assert self.rest is not None
        body = await self.rest.public("GET", "/api/v3/time", weight=TIME_WEIGHT)
        return int(body["serverTime"])

    # --- the service's tick -------------------------------------------------------------------
    def learn_limits(self, rate_limits: list[dict[str, Any]]) -> None:
        """The venue's ``exchangeInfo.rateLimits`` (re-read by reconciliation)."""
        if rate_limits and rate_limits != self._limits_seen:
            self.budget.update_limits(RateLimits.from_exchange_info({"rateLimits": rate_limits}))
            self._limits_seen = list(rate_limits)

    async def tick(self) -> tuple[str, str] | None:
        """Re-estimate when due, set the breaker; ``(old, new)`` when its state changed."""
        if self.budget.breaker_reason() is None:   # banned: no /time either
            try:
                await self.clock.refresh_if_due()
            except (ClockEstimateError, VenueError) as exc:
                if self.log is not None and self.clock.failures % 60 == 1:   # not every second
                    self.log.warning("clock offset estimate failed", error=str(exc)[:200],
                                     failures=self.clock.failures)
        reason = breaker_reason(self.budget, self.clock)
        clock_reason = self.clock.breaker_reason()
        if clock_reason and self.clock.offset_ms is not None and not self._clock_alerted:
            self._alerts.append({"kind": ALERT_CLOCK, "detail": clock_reason,
                                 "offset_ms": self.clock.offset_ms})
        self._clock_alerted = bool(clock_reason and self.clock.offset_ms is not None)
        old, self.state, self.reason = self.state, OPEN if reason else CLOSED, reason or ""
        return (old, self.state) if old != self.state else None

    def blocked_s(self) -> float:
        """Seconds until the venue may be asked again after a 429 or a 418, 0 now."""
        return self.budget.blocked_s()

    def refusal(self) -> str | None:
        """Why no order may leave now (an ORDER REJECTED says it), or None."""
        return f"venue guard open: {self.reason}" if self.state == OPEN else None

    def take_alerts(self) -> list[dict[str, Any]]:
        out, self._alerts = self._alerts, []
        return out

    def snapshot(self) -> dict[str, Any]:
        return heartbeat_table(clock=self.clock, budget=self.budget)

    def close(self) -> None:
        self.budget.close()
