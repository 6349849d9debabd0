"""The executor on a live venue: it knows what it does not know.

The same :class:`~hope.execution.executor.Executor` (one place handles DECISIONs), with the BUY
path and the exits talking to :class:`~hope.venue.adapter.BinanceVenue`:

1. the intent is journaled (``attempted``, ``sent_wall``) before the order is sent;
2. the venue's filters are checked locally first (a refusal is ORDER REJECTED naming the
   filter, nothing sent); no order leaves while the venue breaker is not ``closed``
   (reconciling, or reconciliation failed);
3. a definitive refusal is ORDER REJECTED with the venue's code and message; an unknown
   outcome is one ORDER ``UNKNOWN`` (its timestamp saved first, so a republish keeps its id),
   then the order is queried by ``origClientOrderId`` (``-2013`` tolerated for
   ``unknown_grace_s`` of wall time), never resubmitted, and resolves to exactly one terminal
   ORDER: NEW with its FILL, or REJECTED;
4. every ORDER carries ``venue_order_id``, every FILL the venue's ``trade_ids`` and ``fills``;
   every raw reply goes to the audit log as VENUE_REPLY.

Per BUY: at most one UNKNOWN ORDER, then exactly one terminal ORDER (docs/EVENTS.md).
Exits and reconciliation are in :mod:`hope.execution.live_exits` and
:mod:`hope.execution.live_reconcile`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hope.crashpoints import crash_point
from hope.envelope import Envelope, EnvelopeError, utc_timestamp
from hope.execution import limits as exec_limits
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.executor import Executor, Publish
from hope.execution.live_exits import LiveExits, fill_order, venue_fields
from hope.execution.live_reconcile import RECHECKS_FILE, LiveReconcile, Rechecks
from hope.execution.live_stops import LiveStops
from hope.execution.positions import ExecutorStore
from hope.execution.records import PendingOrder, Refusal
from hope.execution.venue_guard import VenueGuard
from hope.trading.symbols import quote_of
from hope.venue.adapter import BinanceVenue
from hope.venue.errors import NotSent, VenueError, VenueRefused, VenueUnknown
from hope.venue.filters import FilterRefusal
from hope.venue.gate import VenueGate
from hope.venue.orders import VenueOrder
from hope.venue.unknown import FOUND, GONE, resolve

UNKNOWN = "UNKNOWN"


class LiveExecutor(LiveStops, LiveReconcile, LiveExits, Executor):
    def __init__(self, cfg: ExecutionConfig, venue: BinanceVenue, store: ExecutorStore,
                 breaker: CircuitBreaker, *, gate: VenueGate | None = None,
                 wall: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(cfg, venue, store, breaker, **kwargs)  # type: ignore[arg-type]
        self.venue = venue
        self.bcfg = cfg.binance
        self.gate = gate or VenueGate()
        self.wall = wall
        self.last_report: dict[str, Any] | None = None
        self.on_gate_change: Callable[[], None] | None = None
        self.guard: VenueGuard | None = None   # clock and rate guards (HOPE's own REST client)
        self.rechecks = Rechecks(store.dir / RECHECKS_FILE)
        self._exit_tried: dict[str, float] = {}
        self._exit_queries: dict[str, tuple[float, float]] = {}  # next query at, its delay

    # --- audit --------------------------------------------------------------------------------
    async def audit_replies(self, publish: Publish, parent: Envelope | None,
                            order_id: str | None = None) -> None:
        """Every raw answer collected since the last call, as VENUE_REPLY events."""
        for reply in self.venue.take_replies():
            payload = {"service": "executor", "venue": self.venue.name,
                       "order_id": order_id, **reply.as_payload()}
            try:
                await publish("VENUE_REPLY", payload, parent=parent, timestamp=None)
            except EnvelopeError as exc:  # a body no envelope may hold (a huge integer...)
                self.stats["venue_replies_as_text"] += 1
                payload["body"] = {"unparsed": json.dumps(payload["body"], default=str)[:16384],
                                   "why": exc.reason}
                await publish("VENUE_REPLY", payload, parent=parent, timestamp=None)

    # --- the executor's own limits ------------------------------------------------------------
    def _held(self) -> list[exec_limits.Held]:
        """Open positions and every BUY sent whose outcome is not known yet (fail-closed: an
        order of unknown outcome may be a position)."""
        held = super()._held()
        for _, rec in self.pending():
            p = rec.decision.payload
            if rec.attempted and rec.refusal is None and rec.order_env is None:
                quote = str(p.get("quote") or quote_of(str(p["symbol"])) or "?")
                held.append(exec_limits.Held(str(p["symbol"]), quote,
                                             float(p.get("position_size") or 0.0)))
        return held

    # --- DECISIONs older than the ledger's memory --------------------------------------------
    async def _forgotten_duplicate(self, cid: str, p: dict[str, Any]) -> bool:
        cutoff, market_ts = self.store.pruned_before, p.get("market_ts")
        if cutoff is None or not isinstance(market_ts, int | float) or market_ts >= cutoff:
            return False
        try:
            found = await self.venue.query(str(p["symbol"]), cid, with_fills=False)
        except VenueError:
            return True  # cannot tell: fail-closed, a pruned decision is never placed again
        return found is not None

    # --- BUY ----------------------------------------------------------------------------------
    async def _progress(self, cid: str, rec: PendingOrder, publish: Publish) -> None:
        decision = rec.decision
        try:
            order = await self._work(cid, rec, publish)
        finally:
            await self.audit_replies(publish, decision, cid)
        if rec.refusal is not None:
            if rec.not_found and cid not in self.rechecks.items:  # before: a crash keeps it
                self.rechecks.add(cid, rec.decision.payload["symbol"], self.wall())
            await self._publish_refusal(cid, rec, publish, self._refusal_extra(rec))
            return
        if order is None:
            return  # still of unknown outcome: the resolver asks again
        await self._publish_new(cid, rec, order, publish)

    @staticmethod
    def _refusal_extra(rec: PendingOrder) -> dict[str, Any]:
        return {"venue_order_id": rec.venue_order_id, "after_unknown": rec.unknown_published}

    async def _work(self, cid: str, rec: PendingOrder, publish: Publish) -> VenueOrder | None:
        """The venue's order once known; None while unknown (or refused: ``rec.refusal``)."""
        if rec.refusal is not None:
            return None
        p = rec.decision.payload
        if rec.order_env is not None or rec.attempted:
            return await self._query(cid, rec, publish)
        refusal = self._refusal(p) or self._local_refusal(p)
        if refusal is not None:
            self._refuse(cid, rec, *refusal)
            return None
        rules = self.venue.rules[p["symbol"]]
        last = self.venue.price(p["symbol"])
        quote_qty = rules.market_buy(Decimal(str(p["position_size"])), Decimal(str(last[0])))
        rec.attempted, rec.sent_wall = True, self.wall()
        self.store.put_order(cid, rec)  # from here on the venue may know this id: ask first
        if self.log:
            self.log.info("order sending", order_id=cid, symbol=p["symbol"],
                          quote_qty=str(quote_qty))
        try:
            crash_point("buy.before_send", cid)  # chaos: journaled, not sent
            order = await self.venue.market_buy(cid, p["symbol"], quote_qty)
            crash_point("buy.after_reply", cid)  # chaos: the reply known, the ledger not yet
        except NotSent as exc:
            self.breaker.record_failure()
            self._refuse(cid, rec, "REJECTED", f"not sent: {exc.describe()}")
            return None
        except VenueRefused as exc:
            self._count_answer(exc)
            self._refuse(cid, rec, "REJECTED", exc.describe())
            return None
        except VenueUnknown as exc:
            self.breaker.record_failure()
            self.stats["unknown_outcomes"] += 1
            await self._publish_unknown(cid, rec, exc.describe(), publish)
            return None
        self.breaker.record_success()
        return self._known(cid, rec, order)

    def _local_refusal(self, p: dict[str, Any]) -> tuple[str, str] | None:
        """Why this BUY may not leave: the venue breaker, the failure breaker, the filters."""
        if not self.gate.allows():
            return "REJECTED", self.gate.refusal()
        if self.guard is not None and (why := self.guard.refusal()):
            return "REJECTED", why
        rules = self.venue.rules.get(p["symbol"])
        if rules is None:
            return "REJECTED", f"filter: {p['symbol']} is not listed in the venue's exchangeInfo"
        last = self.venue.price(p["symbol"])
        try:
            rules.market_buy(Decimal(str(p["position_size"])),
                             Decimal(str(last[0] if last else 0)))
        except FilterRefusal as exc:
            self.stats[f"filter_{exc.filter}"] += 1
            return "REJECTED", f"filter {exc.filter}: {exc.detail} (nothing sent)"
        # Last: a half-open breaker's one trial is taken only by a BUY that will be sent.
        if not self.breaker.allow():
            return "REJECTED", (f"circuit_open: breaker {self.breaker.name} is "
                                f"{self.breaker.state}")
        return None

    def _count_answer(self, exc: VenueError) -> None:
        """The venue answered: a success for the breaker, except a rate limit or a ban."""
        if exc.http_status in (418, 429):
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    def _refuse(self, cid: str, rec: PendingOrder, status: str, reason: str) -> None:
        rec.refusal = Refusal(status, reason, utc_timestamp())
        self.store.put_order(cid, rec)

    async def _publish_unknown(self, cid: str, rec: PendingOrder, reason: str,
                               publish: Publish) -> None:
        """The one ORDER UNKNOWN of this BUY (its timestamp saved before it is published)."""
        if rec.unknown_published:
            return
        if rec.unknown is None:
            rec.unknown = Refusal(UNKNOWN, reason, utc_timestamp())
            self.store.put_order(cid, rec)
        p = rec.decision.payload
        await publish("ORDER", {"symbol": p["symbol"], "order_id": cid, "status": UNKNOWN,
                                "reason": rec.unknown.reason, "side": "BUY", "quantity": 0.0,
                                "quote_amount": p.get("position_size", 0.0),
                                "strategy": p.get("strategy", ""), "venue_order_id": None},
                      parent=rec.decision, timestamp=rec.unknown.timestamp)
        rec.unknown_published = True
        self.store.put_order(cid, rec)
        if self.log:
            self.log.warning("order of unknown outcome", order_id=cid, reason=reason)

    async def _query(self, cid: str, rec: PendingOrder, publish: Publish) -> VenueOrder | None:
        """Ask the venue by client id; never send again."""
        symbol = rec.decision.payload["symbol"]
        try:
            answer = await self.venue.query(symbol, cid)
        except VenueError as exc:
            if rec.order_env is None:
                await self._publish_unknown(cid, rec, f"query failed: {exc.describe()}", publish)
            return None
        if rec.order_env is not None:
            if answer is None:  # published NEW, then the venue forgot it: never invent a fill
                raise RuntimeError(f"{cid}: ORDER NEW published but unknown to the venue")
            return answer
        res = resolve(answer, sent_wall=rec.sent_wall or 0.0, now_wall=self.wall(),
                      grace_s=self.bcfg.unknown_grace_s)
        if res.kind == FOUND and res.order is not None:
            self.stats["unknown_resolved_found"] += rec.unknown_published
            return self._known(cid, rec, res.order)
        if res.kind == GONE:
            self.stats["unknown_resolved_gone"] += rec.unknown_published
            if res.order is not None:
                rec.venue_order_id = res.order.order_id
            rec.not_found = res.order is None
            self._refuse(cid, rec, "REJECTED", res.reason)
            return None
        await self._publish_unknown(cid, rec, res.reason, publish)
        return None

    def _known(self, cid: str, rec: PendingOrder, order: VenueOrder) -> VenueOrder | None:
        """The venue's answer to a send or a query: fixed as NEW, refused, or still working."""
        rec.venue_order_id = order.order_id
        if order.ended_empty:
            self._refuse(cid, rec, "REJECTED", f"venue status {order.status}, nothing executed "
                                               f"(venue order {order.order_id})")
            return None
        if order.working or not order.fills_complete:
            return None  # a MARKET order still working: the resolver asks again
        if rec.venue_ts is None:
            rec.venue_ts = order.created
            self.store.put_order(cid, rec)
        return order

    async def _publish_new(self, cid: str, rec: PendingOrder, vo: VenueOrder,
                           publish: Publish) -> None:
        p = rec.decision.payload
        rules = self.venue.rules.get(p["symbol"])
        base, quote = (rules.base, rules.quote) if rules else ("", str(p.get("quote", "")))
        ts = rec.venue_ts or vo.created
        if rec.order_env is None:
            payload = {"symbol": vo.symbol, "order_id": cid, "status": "NEW", "side": "BUY",
                       "quantity": float(vo.executed_qty),
                       "quote_amount": p.get("position_size", 0.0),
                       "strategy": p.get("strategy", ""), "venue_order_id": vo.order_id,
                       "venue_status": vo.status, "after_unknown": rec.unknown_published}
            rec.order_env = await publish("ORDER", payload, parent=rec.decision, timestamp=ts)
            self.store.put_order(cid, rec)  # a restart then publishes the FILL, not the ORDER
            self.stats["orders_new"] += 1
        market_ts = float(p.get("market_ts") or 0.0)
        order = fill_order(vo, base, quote, market_ts)
        fill = {"symbol": vo.symbol, "order_id": cid, "side": "BUY",
                "filled_qty": float(vo.executed_qty), "avg_price": order.avg_price,
                "commission": order.commission, "commission_asset": quote,
                "net_qty": order.quantity, "market_ts": market_ts, **venue_fields(vo)}
        out = await publish("FILL", fill, parent=rec.order_env, timestamp=ts)
        done = self._finished("NEW", rec.order_env, p)
        self.positions.open(order, dict(p.get("targets", {})), out, ledger={cid: done},
                            extra={"base": base, "venue_order_id": vo.order_id,
                                   "trade_ids": [f.trade_id for f in vo.fills]})
        self._prune()
        self.stats["fills"] += 1
        if (pos := self.store.positions.get(cid)) is not None:
            await self.protect(pos, publish)

    # --- the resolver -------------------------------------------------------------------------
    def pending(self) -> list[tuple[str, PendingOrder]]:
        return [(cid, rec) for cid, rec in self.store.orders.items()
                if isinstance(rec, PendingOrder)]

    async def resolve_pending(self, publish: Publish) -> int:
        """Query every order intent of unknown outcome once; the number still unresolved."""
        left = 0
        for cid, rec in self.pending():
            await self._progress(cid, rec, publish)
            left += isinstance(self.store.orders.get(cid), PendingOrder)
        return left
