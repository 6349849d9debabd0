"""Protective stops of a live executor: placed after a BUY fills, cleared before an exit.

A mixin of :class:`~hope.execution.live.LiveExecutor` (``self`` is one) around
:class:`~hope.venue.stop_driver.StopDriver` (``self.stops``; None: no stops, as before).
After a BUY's FILL, :meth:`protect` places a ``STOP_LOSS_LIMIT`` SELL of the position's net
quantity ``stop_margin_pct`` below its stop-loss level: while HOPE runs its own exit comes
first, the venue's stop is the backstop for when it does not (refused locally by the filters:
ALERT ``protective_stop``, the position is protected by HOPE's own stop-loss only). Before an
exit SELL, :meth:`clear_stop` cancels it: the SELL goes out only once the stop is known
cancelled; a stop that traded sold the position itself, and its fills make the CLOSE (reason
``stop_loss``, the stop's trade ids) and no ``-x`` SELL is sent, whatever the gate (nothing
leaves for the venue). A stream report of a stop's fill marks the position closing (not an
attempted exit), and :meth:`close_stop_sales` (every second) closes it, PRICE or none: a stop
sells on the market's last trades, and no later PRICE may come. Reconciliation settles stops
first (a stop that filled while HOPE was down closes its position, once; an exit intent beside
it is resolved first by query) and knows their client ids.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hope.execution.executor import Publish
from hope.execution.records import Closing, Position
from hope.venue.errors import VenueError
from hope.venue.orders import VenueOrder
from hope.venue.stops import (
    ACTIVE,
    FILLED,
    TRIGGERED,
    ClosedByStop,
    ExitAllowed,
    StopRefused,
    plan_stop,
)

STOP_LOSS = "stop_loss"
REPROTECT_S = 5.0   # wall clock: how often a stop that was not sent is tried again
GO, WAIT, STOPPED = "go", "wait", "stopped"


class LiveStops:
    """The protective-stop half of the live executor (a mixin)."""

    stops: Any = None   # hope.venue.stop_driver.StopDriver, when configured
    _no_stop: set[str] | None = None   # positions the filters allow no stop for (ALERT given)
    _reprotected_at = float("-inf")
    guard: Any = None   # hope.execution.venue_guard.VenueGuard, on HOPE's own REST client

    async def protect(self, pos: Position, publish: Publish) -> None:
        """Place the stop of a position that just opened."""
        if self.stops is None:
            return
        rules = self.venue.rules.get(pos.symbol)
        last = self.venue.price(pos.symbol)
        try:
            if rules is None:
                raise StopRefused("exchangeInfo", f"{pos.symbol} is not listed")
            # below HOPE's own stop-loss: while HOPE runs its exit comes first; the venue's
            # stop is the backstop for when it does not
            level = Decimal(str(pos.stop_loss)) * (1 - Decimal(str(self.bcfg.stop_margin_pct))
                                                   / 100)
            stop = self.stops.stops.get(pos.order_id)
            plan = plan_stop(rules, pos.order_id, Decimal(str(pos.quantity)), level,
                             generation=stop.next_generation() if stop else 1,
                             limit_offset_pct=Decimal(str(self.bcfg.stop_limit_offset_pct)),
                             last_price=Decimal(str(last[0])) if last else None)
        except StopRefused as exc:
            self._no_stop = (self._no_stop or set()) | {pos.order_id}
            self.stops.alerts.append(f"protective stop for {pos.order_id} not placed: {exc}")
        else:
            stop = self.stops.stops.get(pos.order_id)
            if stop is not None and not stop.unprotected:
                return   # placed, or its outcome is being resolved
            await self.stops.protect(pos.order_id, pos.symbol, plan)
        await self.stop_alerts(publish, pos)

    async def reprotect(self, publish: Publish) -> None:
        """Positions whose stop was not sent (a local refusal) or is missing get one now."""
        if self.stops is None or self.wall() - self._reprotected_at < REPROTECT_S:
            return
        self._reprotected_at = self.wall()
        waiting = set(self.stops.unprotected())
        refused = self._no_stop or set()
        for pos in list(self.positions.open_positions()):
            if pos.closing is None and (pos.order_id in waiting or (
                    pos.order_id not in self.stops.stops and pos.order_id not in refused)):
                await self.protect(pos, publish)

    async def clear_stop(self, pos: Position, reason: str) -> str:
        """GO (sell), WAIT (the stop's state is not known yet) or STOPPED (it sold)."""
        if self.stops is None:
            return GO
        action = await self.stops.clear(pos.order_id, reason)
        if isinstance(action, ExitAllowed):
            return GO
        return STOPPED if isinstance(action, ClosedByStop) else WAIT

    def stop_sold(self, pos: Position) -> bool:
        """The venue's stop traded (known from a query or the stream): it sold the position,
        no exit SELL may go out, its fills are the CLOSE's."""
        stop = self.stops.stops.get(pos.order_id) if self.stops is not None else None
        return stop is not None and stop.state in (TRIGGERED, FILLED)

    async def stop_sale(self, pos: Position) -> VenueOrder | None:
        """The stop's order with its fills, once it is done trading (the CLOSE's fills)."""
        stop = self.stops.stops.get(pos.order_id)
        if stop is None or stop.client_id is None:
            return None
        order = await self.venue.query(pos.symbol, stop.client_id)
        if order is None or order.working or not order.fills or not order.fills_complete:
            return None
        return order

    def on_stop_report(self, event: dict[str, Any]) -> None:
        """A user-stream report: a stop that traded marks its position closing."""
        if self.stops is None:
            return
        action = self.stops.on_execution_report(event)
        if isinstance(action, ClosedByStop):
            stop = self.stops.by_client_id(str(event.get("c")))
            pos = self.store.positions.get(stop.position_id) if stop else None
            if pos is not None and not (pos.closing and pos.closing.attempted):
                pos.closing = Closing(STOP_LOSS, attempted=False)  # no -x exit was sent
                self.store.put_position(pos)

    async def close_stop_sales(self, publish: Publish) -> int:
        """Close every position the stream says its stop sold (nothing is sent: the stop's
        fills are the CLOSE's), halted or not; the number closed. A query that fails is asked
        again at the next call, at most once per ``resolve_interval_s``."""
        closed = 0
        if self.guard is not None and self.guard.blocked_s() > 0:
            return 0   # the venue may not be asked now (429/418 back-off)
        for pos in list(self.positions.open_positions()):
            if pos.closing is None or pos.closing.attempted or not self.stop_sold(pos):
                continue
            if not self._exit_due(pos):
                continue
            try:
                closed += await self._close(pos, STOP_LOSS, publish)
            except VenueError as exc:
                if self.log:
                    self.log.warning("stop sale not booked yet", order_id=pos.order_id,
                                     error=exc.describe())
        return closed

    async def settle_stops(self, publish: Publish) -> None:
        """Before reconciling: ask every working stop; one that traded closes its position."""
        if self.stops is None:
            return
        await self.stops.resolve()
        for pos in list(self.positions.open_positions()):
            stop = self.stops.stops.get(pos.order_id)
            if stop is not None and stop.state == ACTIVE and stop.client_id:
                order = await self.venue.query(pos.symbol, stop.client_id, with_fills=False)
                if order is not None and order.executed_qty > 0:
                    self.stops.observed(pos.order_id, order.status, order.order_id,
                                        order.executed_qty)
                    if not (pos.closing and pos.closing.attempted):  # an exit in flight is
                        pos.closing = Closing(STOP_LOSS, attempted=False)  # resolved first
                        self.store.put_position(pos)
                    await self._close(pos, STOP_LOSS, publish)
        await self.stop_alerts(publish, None)

    def stop_ids(self) -> set[str]:
        """Client ids of the stops HOPE keeps (reconciliation knows them as HOPE's)."""
        if self.stops is None:
            return set()
        return {s.client_id for s in self.stops.stops.values() if s.client_id}

    async def stop_alerts(self, publish: Publish, pos: Position | None) -> None:
        if self.stops is None:
            return
        for reason in self.stops.alerts:
            await publish("ALERT", {"kind": "protective_stop", "service": "executor",
                                    "order_id": pos.order_id if pos else None,
                                    "detail": reason[:500]},
                          parent=pos.fill_env if pos else None, timestamp=None)
        self.stops.alerts.clear()
