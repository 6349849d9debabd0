"""Exits on a live venue: sell what the position holds, with the BUY's unknown-outcome rules.

Take-profit, stop-loss, timeout and flatten sell the position's quantity (already net of a
base-asset commission) rounded down to the step, as a MARKET order with client id
``<order_id>-x``. The send is journaled first (``Closing.attempted`` and an
:class:`~hope.execution.records.ExitAttempt`: the wall time of the send, the market clock the
CLOSE will carry); an unknown outcome is queried, never sent again, until the
order is found (CLOSE with the venue's fills and fees) or the ``-2013`` grace has passed (the
SELL did not happen: the next exit check may send it; an intent with no send journaled is not
placed at its first ``-2013``). The queries back off (``resolve_interval_s`` doubling up to
``QUERY_BACKOFF_MAX_S``, never past the grace's end), so an exit the venue does not show does
not spend the request budget. A protective stop that sold the position makes the CLOSE instead
(:mod:`hope.execution.live_stops`). Flatten first cancels HOPE's open orders
at the venue. A refused or unknown exit raises ALERT ``exit_failed`` / ``exit_unknown``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hope.crashpoints import crash_point
from hope.execution.exchange import Order
from hope.execution.executor import Publish
from hope.execution.positions import FLATTEN
from hope.execution.records import Closing, ExitAttempt, Position
from hope.trading.ids import close_order_id
from hope.trading.state import HALTED
from hope.venue.errors import NotSent, VenueError, VenueRefused, VenueUnknown
from hope.venue.filters import FilterRefusal
from hope.venue.orders import VenueOrder
from hope.venue.unknown import FOUND, GONE, Resolution, resolve

QUERY_BACKOFF_MAX_S = 30.0  # wall clock: the longest wait between two queries of one exit


def fill_order(vo: VenueOrder, base: str, quote: str, market_ts: float) -> Order:
    """The venue's order as the position book takes it: the quantity net of a base-asset
    commission, every fee in base or quote counted in the quote (other assets: ``fees_by_asset``)."""
    avg = vo.avg_price
    base_fee = vo.commission_in(base)
    fee_quote = vo.commission_in(quote) + base_fee * avg
    return Order(client_id=vo.client_id, symbol=vo.symbol, side=vo.side,
                 quantity=float(vo.executed_qty - base_fee), avg_price=float(avg),
                 commission=float(fee_quote), commission_asset=quote, status=vo.status,
                 created=vo.created, market_ts=market_ts)


def venue_fields(vo: VenueOrder) -> dict[str, Any]:
    """What every FILL (and a CLOSE for its exit) carries of the venue's own records."""
    return {"venue_order_id": vo.order_id, "venue_status": vo.status,
            "trade_ids": [f.trade_id for f in vo.fills],
            "fills": [f.as_payload() for f in vo.fills], "fees_by_asset": vo.fees_by_asset()}


class LiveExits:
    """The exit half of :class:`~hope.execution.live.LiveExecutor` (a mixin: ``self`` is one)."""

    async def check_exits(self, publish: Publish, symbol: str | None = None) -> int:
        """Close what hit a target; a close in flight is left to :meth:`resolve_closes`.
        ``symbol``: as :meth:`hope.execution.executor.Executor.check_exits`."""
        closed = 0
        now = self.market_clock.now()
        for pos in self.exits.due(symbol, now, self.trading_state):
            if pos.closing and pos.closing.attempted:
                continue
            if pos.closing:
                reason: str | None = pos.closing.reason
            elif self.trading_state == HALTED:
                continue  # the kill switch stops automatic exits; flatten still works
            else:
                last = self.venue.price(pos.symbol)
                reason = self.positions.exit_reason(pos, last[0] if last else None, now)
            done = bool(reason) and self._exit_due(pos) and await self._close(pos, reason, publish)
            self.exits.checked(pos, reason, done)
            closed += done
        return closed

    def _exit_due(self, pos: Position) -> bool:
        """At most one exit attempt per position per ``resolve_interval_s`` (wall clock): a
        refused SELL is not hammered at the venue on every PRICE."""
        now = self.wall()
        if now - self._exit_tried.get(pos.order_id, -1e18) < self.bcfg.resolve_interval_s:
            return False
        self._exit_tried[pos.order_id] = now
        return True

    async def resolve_closes(self, publish: Publish) -> int:
        """Query every SELL of unknown outcome once; the number still unresolved."""
        left = 0
        for pos in self.positions.open_positions():
            if pos.closing and pos.closing.attempted:
                left += not await self._close(pos, pos.closing.reason, publish)
        return left

    async def flatten(self, publish: Publish) -> int:
        """Cancel HOPE's open orders at the venue, then close every position (even HALTED)."""
        try:
            for order in await self.venue.hope_open_orders():
                await self.venue.cancel(order.symbol, order.client_id)
                self.stats["flatten_cancelled"] += 1
        except VenueError as exc:
            if self.log:
                self.log.error("flatten: cancelling open orders failed", error=exc.describe())
        finally:
            await self.audit_replies(publish, None)
        closed = 0
        for pos in self.positions.open_positions():
            reason = pos.closing.reason if pos.closing else FLATTEN
            if await self._close(pos, reason, publish):
                closed += 1
        return closed

    async def _close(self, pos: Position, reason: str, publish: Publish) -> bool:
        try:
            sell = await self._sell(pos, reason, publish)
        finally:
            await self.audit_replies(publish, pos.fill_env, pos.order_id)
        if sell is None:
            return False
        if sell.client_id != close_order_id(pos.order_id):
            reason = "stop_loss"   # the protective stop sold the position
        market_ts = pos.exit.market_ts if pos.exit is not None else (
            self.market_clock.now() or pos.opened_market_ts)
        order = fill_order(sell, pos.base, pos.quote, market_ts)
        payload = self.positions.close_payload(pos, order, reason)
        payload.update({"exit_" + k: v for k, v in venue_fields(sell).items()})
        payload.update(entry_venue_order_id=pos.venue_order_id, entry_trade_ids=pos.trade_ids,
                       dust=max(0.0, pos.quantity - order.quantity))
        if pos.exit is not None and pos.exit.venue_ts is None:
            pos.exit.venue_ts = sell.created  # a republish after a crash keeps the CLOSE's id
            self.store.put_position(pos)
        ts = pos.exit.venue_ts if pos.exit is not None else sell.created
        await publish("CLOSE", payload, parent=pos.fill_env, timestamp=ts)
        self.store.drop_position(pos.order_id)
        if self.stops is not None:
            self.stops.forget(pos.order_id)
        self._exit_tried.pop(pos.order_id, None)
        self._exit_queries.pop(pos.order_id, None)
        self.stats[f"closes_{reason}"] += 1
        return True

    async def _sell(self, pos: Position, reason: str, publish: Publish
                    ) -> VenueOrder | None:
        """The SELL once known (found or just filled); None while pending or refused."""
        xid = close_order_id(pos.order_id)
        if pos.closing and pos.closing.attempted:
            found = await self._query_sell(pos, xid, publish)
            if found is not None or (pos.closing and pos.closing.attempted):
                return found
        if self.stop_sold(pos):  # no order goes out: the stop's fills are the CLOSE's
            return await self.stop_sale(pos)
        if not self.gate.allows() and reason != FLATTEN:
            return None  # no automatic exit while reconciling or after a failed one
        cleared = await self.clear_stop(pos, reason)  # the stop first: it locks the asset
        if cleared == "stopped":
            return await self.stop_sale(pos)
        if cleared != "go":
            return None  # the stop's state is not known yet: no SELL meanwhile
        rules = self.venue.rules.get(pos.symbol)
        last = self.venue.price(pos.symbol)
        try:
            if rules is None:
                raise FilterRefusal("exchangeInfo", f"{pos.symbol} is not listed")
            qty = rules.market_sell(Decimal(str(pos.quantity)),
                                    Decimal(str(last[0] if last else 0)))
        except FilterRefusal as exc:
            await self._exit_alert(pos, "exit_failed", f"filter {exc.filter}: {exc.detail}",
                                   publish)
            return None
        pos.closing = Closing(reason, attempted=True)
        pos.exit = ExitAttempt(sent_wall=self.wall(),
                               market_ts=self.market_clock.now() or pos.opened_market_ts)
        self.store.put_position(pos)  # from here on the venue may know xid: ask first
        try:
            crash_point("exit.before_send", xid)  # chaos: journaled, not sent
            sell = await self.venue.market_sell(xid, pos.symbol, qty)
            crash_point("exit.after_reply", xid)  # chaos: the reply known, the ledger not yet
        except (NotSent, VenueRefused) as exc:
            pos.closing, pos.exit = Closing(reason, attempted=False), None
            self.store.put_position(pos)
            await self._exit_alert(pos, "exit_failed", exc.describe(), publish)
            return None
        except VenueUnknown as exc:
            pos.exit.unknown = exc.describe()
            self.store.put_position(pos)
            await self._exit_alert(pos, "exit_unknown", exc.describe(), publish)
            return None
        return sell if not sell.working and sell.fills_complete else None

    async def _query_sell(self, pos: Position, xid: str, publish: Publish
                          ) -> VenueOrder | None:
        closing = pos.closing
        assert closing is not None
        if not self._query_due(pos):
            return None
        try:
            answer = await self.venue.query(pos.symbol, xid)
        except VenueError:
            return None
        now = self.wall()
        # no send journaled (an intent without its ExitAttempt): nothing can be waited for
        sent = pos.exit.sent_wall if pos.exit is not None else now - self.bcfg.unknown_grace_s
        res = resolve(answer, sent_wall=sent, now_wall=now, grace_s=self.bcfg.unknown_grace_s)
        if res.kind == FOUND and res.order is not None and res.order.fills_complete:
            return res.order
        if res.kind == GONE and pos.exit is None:
            res = Resolution(GONE, "not found at the venue (-2013); its send was never "
                                   "journaled")
        if res.kind == GONE:  # the SELL never happened: the position may be sold again
            self._exit_queries.pop(pos.order_id, None)
            pos.closing, pos.exit = Closing(closing.reason, attempted=False), None
            self.store.put_position(pos)
            if not self.stop_sold(pos):  # the stop sold it: nothing failed
                await self._exit_alert(pos, "exit_failed", res.reason, publish)
        return None

    def _query_due(self, pos: Position) -> bool:
        """Queries of one exit back off (``resolve_interval_s`` doubling, at most
        ``QUERY_BACKOFF_MAX_S``, never past the grace's end): a SELL the venue does not show
        is not asked about every second until the grace ends, and the request budget is
        left to trading."""
        now = self.wall()
        if pos.order_id not in self._exit_queries:  # the first two queries do not wait
            self._exit_queries[pos.order_id] = (now, 0.0)
            return True
        next_at, delay = self._exit_queries[pos.order_id]
        if now < next_at:
            return False
        delay = min(max(self.bcfg.resolve_interval_s, 2 * delay), QUERY_BACKOFF_MAX_S)
        if pos.exit is not None:
            end = pos.exit.sent_wall + self.bcfg.unknown_grace_s
            if now < end:
                delay = min(delay, max(end - now, self.bcfg.resolve_interval_s))
        self._exit_queries[pos.order_id] = (now + delay, delay)
        return True

    async def _exit_alert(self, pos: Position, kind: str, detail: str,
                          publish: Publish) -> None:
        self.stats[kind] += 1
        if self.log:
            self.log.warning(kind.replace("_", " "), order_id=pos.order_id, detail=detail)
        await publish("ALERT", {"kind": kind, "service": "executor", "order_id": pos.order_id,
                                "symbol": pos.symbol, "detail": detail[:500]},
                      parent=pos.fill_env, timestamp=None)

