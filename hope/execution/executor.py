"""The executor: BUY decisions become exactly one ORDER each, fills become positions, exits CLOSEs.

Idempotency, in order of defence:
1. the client order id is derived from the decision's ``event_id`` (venues dedupe client ids);
2. the ledger journals the intent (the decision, ``attempted``) before the exchange is called —
   a decision never attempted is known not to exist at the venue, one attempted is never placed
   again before ``exchange.get_order`` has been asked (never retried blindly);
3. every event is published with a timestamp fixed before publishing (the venue's acceptance
   time or a saved refusal time), so a republish after a crash carries the same ``event_id``;
4. finished records are forgotten after ``ledger_retention_s`` (market clock); a decision that
   old which is not in the ledger is first looked up at the venue (``pruned_before``), so even a
   very late redelivery never places or fills twice (it may at worst be refused again).

Each journal write is durable against SIGKILL when it returns and against power loss after
``fsync_interval_ms`` (see :mod:`hope.execution.positions`); a BUY costs two ledger lines and one
book line, no fsync on the hot path.

``publish(event_type, payload, *, parent, timestamp) -> Envelope`` is injected: the service passes
the runtime's publisher, tests pass a recorder. No sockets here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec

from hope.bus.base import BusError
from hope.clock import MarketClock
from hope.decision.config import DecisionConfig
from hope.envelope import Envelope, utc_timestamp
from hope.execution import limits as exec_limits
from hope.execution.breaker import CircuitBreaker, CircuitOpen
from hope.execution.config import ExecutionConfig
from hope.execution.exchange import (
    Exchange,
    ExchangeError,
    ExchangeTimeout,
    Order,
    OrderRejected,
)
from hope.execution.exit_watch import ExitWatch
from hope.execution.positions import FLATTEN, ORDER, ExecutorStore, PositionManager
from hope.execution.records import (
    Closing,
    FinishedOrder,
    PendingOrder,
    Position,
    Refusal,
)
from hope.trading.ids import client_order_id, close_order_id
from hope.trading.state import ACTIVE, HALTED


class Publish(Protocol):
    """``Runtime.publish``'s shape: a fixed ``timestamp`` keeps a republished event's id."""

    def __call__(self, event_type: str, payload: dict[str, Any], *, parent: Envelope | None,
                 timestamp: str | None) -> Awaitable[Envelope]: ...


def _ledger_copy(decision: Envelope) -> Envelope:
    """The decision as the ledger keeps it: without its reasons (most of its bytes, and never
    needed to place or publish an order; the audit log has them)."""
    return msgspec.structs.replace(
        decision, payload={k: v for k, v in decision.payload.items() if k != "reasons"})


class Executor:
    def __init__(self, cfg: ExecutionConfig, exchange: Exchange, store: ExecutorStore,
                 breaker: CircuitBreaker, *, market_clock: MarketClock | None = None,
                 trading_state: str = ACTIVE, log: Any = None,
                 limits: exec_limits.Limits | None = None) -> None:
        self.cfg = cfg
        self.limits = limits or exec_limits.Limits.from_config(cfg, DecisionConfig())
        self.refusals: Counter[str] = Counter()  # BUYs refused by a limit, per limit
        self.exchange = exchange
        self.store = store
        self.breaker = breaker
        self.positions = PositionManager(store)
        self.exits = ExitWatch(store)  # which positions a PRICE can close
        self.market_clock = market_clock or MarketClock()
        self.trading_state = trading_state
        self.log = log
        self.stats: Counter[str] = Counter()

    # --- inputs ------------------------------------------------------------------------------
    def on_price(self, symbol: str, price: float, market_ts: float) -> None:
        """The venue's price; the market clock is moved by its owner (the market-clock
        middleware in the service, the replay loop in a what-if run), never from here."""
        self.exchange.set_price(symbol, price, market_ts)

    def _call(self, fn: Callable[[], Any]) -> Any:
        """One exchange call through the breaker: venue failures count, business refusals don't."""
        self.breaker.check()
        try:
            result = fn()
        except ExchangeError:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return result

    # --- BUY → ORDER → FILL ---------------------------------------------------------------------
    async def handle_decision(self, env: Envelope, publish: Publish) -> None:
        """Turn a BUY into exactly one ORDER (NEW + FILL, REJECTED or EXPIRED); ignore SKIPs."""
        if env.payload.get("action") != "BUY":
            return
        cid = client_order_id(env.event_id)
        rec = self.store.orders.get(cid)
        if isinstance(rec, FinishedOrder):
            self.stats["duplicate_decisions"] += 1
            return
        if rec is None and await self._forgotten_duplicate(cid, env.payload):
            self.stats["duplicate_decisions"] += 1
            return
        if rec is None:
            # saved with the first step that matters (placing or refusing); a crash before that
            # left no trace anywhere, and the runtime redelivers the unfinished DECISION
            rec = PendingOrder(decision=_ledger_copy(env))
            self.store.orders[cid] = rec
            refused = exec_limits.check(self.limits, env.payload, self._held())
            if refused:
                await self._refuse_by_limit(cid, rec, env, refused, publish)
                return
        await self._progress(cid, rec, publish)

    def _held(self) -> list[exec_limits.Held]:
        return [exec_limits.Held(p.symbol, p.quote, p.quantity * p.entry_price)
                for p in self.positions.open_positions()]

    async def _refuse_by_limit(self, cid: str, rec: PendingOrder, env: Envelope,
                               refused: exec_limits.Refusal, publish: Publish) -> None:
        """ORDER REJECTED naming the limit (saved first, like every refusal), then an ALERT."""
        rec.refusal = Refusal("REJECTED", refused.reason, utc_timestamp())
        self.store.put_order(cid, rec)
        self.refusals[refused.limit] += 1
        self.stats["limit_refusals"] += 1
        if self.log:
            self.log.warning("decision refused by a limit", order_id=cid, limit=refused.limit,
                             detail=refused.detail)
        await self._progress(cid, rec, publish)
        await publish("ALERT", {"kind": "executor_limit", "service": "executor",
                                "limit": refused.limit, "detail": refused.detail,
                                "order_id": cid, "decision_id": env.event_id,
                                "symbol": str(env.payload.get("symbol"))[:40]},
                      parent=env, timestamp=None)

    async def _forgotten_duplicate(self, cid: str, p: dict[str, Any]) -> bool:
        """A decision old enough that its ledger record may have been pruned: ask the venue."""
        cutoff, market_ts = self.store.pruned_before, p.get("market_ts")
        if cutoff is None or not isinstance(market_ts, int | float) or market_ts >= cutoff:
            return False  # never pruned: the ledger is authoritative
        return self._call(lambda: self.exchange.get_order(cid)) is not None

    def _finished(self, status: str, order_env: Envelope, p: dict[str, Any]) -> FinishedOrder:
        """A finished ledger record shrunk to what dedupe needs (keeps the snapshot small).

        ``t`` is its prune key: the later of the decision's market time and now (market clock),
        so a pruned record's decision is always older than ``pruned_before``."""
        now, mts = self.market_clock.now(), p.get("market_ts")
        keys = [float(x) for x in (now, mts) if isinstance(x, int | float)]
        return FinishedOrder(status=status, order_event_id=order_env.event_id,
                             t=max(keys) if keys else None)

    def _prune(self) -> None:
        now = self.market_clock.now()
        if now is not None:
            self.store.prune(now - self.cfg.ledger_retention_s)

    def _refusal(self, p: dict[str, Any]) -> tuple[str, str] | None:
        """Why this BUY must not be placed now: (status, reason), or None."""
        if self.trading_state != ACTIVE:
            return "REJECTED", f"trading_state {self.trading_state}"
        now = self.market_clock.now()
        if now is None:
            return "REJECTED", "market clock unknown"
        market_ts = p.get("market_ts")
        if not isinstance(market_ts, int | float):
            return "REJECTED", "decision carries no market_ts"
        if now - market_ts > self.cfg.max_order_delay_s:
            return "EXPIRED", (f"{now - market_ts:.3f}s late on the market clock "
                               f"(max {self.cfg.max_order_delay_s}s)")
        return None

    def _place_buy(self, cid: str, rec: PendingOrder, p: dict[str, Any]
                   ) -> tuple[Order | None, tuple[str, str] | None]:
        refusal = self._refusal(p)
        if refusal:
            return None, refusal
        if not self.breaker.allow():
            return None, ("REJECTED", f"circuit_open: breaker {self.breaker.name} "
                                      f"is {self.breaker.state}")
        rec.attempted = True
        self.store.put_order(cid, rec)  # from here on the venue may know this id: ask first
        try:
            order = self.exchange.place_order(cid, p["symbol"], "BUY",
                                              quote_amount=float(p["position_size"]))
        except OrderRejected as exc:
            self.breaker.record_success()  # the venue answered
            return None, ("REJECTED", str(exc))
        except ExchangeTimeout:
            self.breaker.record_failure()
            self.stats["timeouts"] += 1
            order = self._call(lambda: self.exchange.get_order(cid))  # raises → retried later
            return (order, None) if order else (None, ("REJECTED", "exchange timeout"))
        except ExchangeError as exc:
            self.breaker.record_failure()
            return None, ("REJECTED", f"exchange error: {exc}")
        self.breaker.record_success()
        return order, None

    async def _publish_refusal(self, cid: str, rec: PendingOrder, publish: Publish,
                               extra: dict[str, Any] | None = None) -> None:
        """The ORDER REJECTED/EXPIRED saved in ``rec.refusal``; the record is then finished."""
        ref, p = rec.refusal, rec.decision.payload
        assert ref is not None
        payload = {"symbol": p["symbol"], "order_id": cid, "status": ref.status,
                   "reason": ref.reason, "side": "BUY", "quantity": 0.0,
                   "quote_amount": p.get("position_size", 0.0),
                   "strategy": p.get("strategy", ""), **(extra or {})}
        out = await publish("ORDER", payload, parent=rec.decision, timestamp=ref.timestamp)
        self.store.put_order(cid, self._finished(ref.status, out, p))
        self._prune()
        self.stats[f"orders_{ref.status.lower()}"] += 1

    async def _progress(self, cid: str, rec: PendingOrder, publish: Publish) -> None:
        decision = rec.decision
        p = decision.payload
        order: Order | None = None
        if rec.refusal is None and rec.order_env is None:
            if rec.attempted:
                order = self._call(lambda: self.exchange.get_order(cid))  # never retry blindly
            if order is None:
                order, refusal = self._place_buy(cid, rec, p)
                if refusal:
                    rec.refusal = Refusal(refusal[0], refusal[1], utc_timestamp())
                    self.store.put_order(cid, rec)
        if rec.refusal is not None:
            await self._publish_refusal(cid, rec, publish)
            return
        if order is None:
            order = self._call(lambda: self.exchange.get_order(cid))
            if order is None:  # ledger says published but venue forgot: refuse to invent a fill
                raise RuntimeError(f"{cid}: ORDER published but unknown to the exchange")
        if rec.order_env is None:
            payload = {"symbol": order.symbol, "order_id": cid, "status": "NEW", "side": "BUY",
                       "quantity": order.quantity, "quote_amount": p.get("position_size", 0.0),
                       "strategy": p.get("strategy", "")}
            # not journaled here: after a crash the ORDER is resent with the same timestamp,
            # hence the same event_id, which consumers dedupe (one write less per BUY)
            rec.order_env = await publish("ORDER", payload, parent=decision,
                                          timestamp=order.created)
            self.stats["orders_new"] += 1
        fill_payload = {"symbol": order.symbol, "order_id": cid, "side": "BUY",
                        "filled_qty": order.quantity, "avg_price": order.avg_price,
                        "commission": order.commission,
                        "commission_asset": order.commission_asset,
                        "market_ts": order.market_ts}
        out = await publish("FILL", fill_payload, parent=rec.order_env, timestamp=order.created)
        done = self._finished("NEW", rec.order_env, p)
        # ledger and position in one journal line: both or neither survive
        self.positions.open(order, dict(p.get("targets", {})), out, ledger={cid: done})
        self._prune()
        self.stats["fills"] += 1

    # --- exits ---------------------------------------------------------------------------------
    def exits_due(self, symbol: str) -> bool:
        """Has a PRICE of ``symbol`` any position to check (:mod:`hope.execution.exit_watch`)?"""
        return self.exits.wants(symbol, self.market_clock.now(), self.trading_state)

    async def check_exits(self, publish: Publish, symbol: str | None = None) -> int:
        """Close what hit take-profit, stop-loss or timeout; resume interrupted closes.
        ``symbol``: after a PRICE of it, only the positions that PRICE can close are checked
        (:class:`~hope.execution.exit_watch.ExitWatch`); None checks every position."""
        closed = 0
        now = self.market_clock.now()
        for pos in self.exits.due(symbol, now, self.trading_state):
            if pos.closing:
                reason = pos.closing.reason
            else:
                if self.trading_state == HALTED:
                    continue  # the kill switch stops automatic exits too; flatten still works
                last = self.exchange.price(pos.symbol)
                reason = self.positions.exit_reason(pos, last[0] if last else None, now)
            done = bool(reason) and await self._close(pos, reason, publish)
            self.exits.checked(pos, reason, done)
            closed += done
        return closed

    async def flatten(self, publish: Publish) -> int:
        """Close every open position with reason ``flatten`` (an operator order: even when HALTED)."""
        closed = 0
        for pos in self.positions.open_positions():
            if await self._close(pos, pos.closing.reason if pos.closing else FLATTEN, publish):
                closed += 1
        return closed

    async def _close(self, pos: Position, reason: str, publish: Publish) -> bool:
        xid = close_order_id(pos.order_id)
        try:
            sell = None
            if pos.closing and pos.closing.attempted:
                sell = self._call(lambda: self.exchange.get_order(xid))
            if sell is None:
                pos.closing = Closing(reason)
                self.store.put_position(pos)
                sell = self._call(lambda: self.exchange.place_order(
                    xid, pos.symbol, "SELL", quantity=pos.quantity))
        except (OrderRejected, CircuitOpen, ExchangeError) as exc:
            # the position stays open with its close reason; the next PRICE tries again
            self.stats["close_failures"] += 1
            if self.log:
                self.log.warning("close failed", order_id=pos.order_id, error=str(exc))
            return False
        payload = self.positions.close_payload(pos, sell, reason)
        await publish("CLOSE", payload, parent=pos.fill_env, timestamp=sell.created)
        self.store.drop_position(pos.order_id)
        self.stats[f"closes_{reason}"] += 1
        return True

    # --- restart -----------------------------------------------------------------------------
    async def reconcile(self, publish: Publish) -> dict[str, Any]:
        """On start: set unreadable records apart, finish interrupted decisions, drop positions
        the venue does not know. A decision that cannot be finished (whatever put it in the
        ledger) is quarantined and reported like an unreadable record, so one bad record never
        makes every start fail; a venue, bus or disk that fails does (the next start retries)."""
        report: dict[str, Any] = {"resumed": 0, "dropped": [], "orphans": [], "quarantined": []}
        self.store.open()  # records that did not decode are set apart (QUARANTINED) here
        quarantined = list(self.store.quarantined.values())
        for cid, rec in list(self.store.orders.items()):
            if not isinstance(rec, PendingOrder):
                continue
            try:
                await self._progress(cid, rec, publish)
            except (ExchangeError, CircuitOpen, BusError, OSError):
                raise  # the venue, the bus or the disk failed, not the record: the next start redoes it
            except Exception as exc:
                quarantined.append(self.store.quarantine(
                    ORDER, cid, rec, f"cannot be finished: {type(exc).__name__}: {exc}",
                    "reconcile"))
                continue
            report["resumed"] += 1
        for rec in quarantined:
            report["quarantined"].append({**rec.alert(), "at_venue": self._venue_view(rec.key)})
            self.stats["ledger_quarantined"] += 1  # counted in the heartbeat's executor stats
        for oid, pos in list(self.store.positions.items()):
            order = self._call(lambda oid=oid: self.exchange.get_order(oid))
            if order is None:
                report["dropped"].append(oid)
                self.store.drop_position(oid)
            elif pos.closing:
                await self._close(pos, pos.closing.reason, publish)
        forgotten = self.store.pruned_before
        for order in self.exchange.orders():
            if order.side == "BUY" and order.client_id not in self.store.orders and (
                    forgotten is None or order.market_ts >= forgotten):
                report["orphans"].append(order.client_id)  # placed by nobody we know: report it
        self.store.save()  # a compaction: the journal starts empty after each start
        return report

    def _venue_view(self, client_id: str) -> dict[str, Any] | None:
        """The venue's side of an order (so a quarantined record's position is reported)."""
        order = self._call(lambda: self.exchange.get_order(client_id))
        if order is None:
            return None
        return {"symbol": order.symbol, "side": order.side, "quantity": order.quantity,
                "avg_price": order.avg_price, "status": order.status}
