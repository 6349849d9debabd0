"""Exchange-side protective stops: a position stays protected while HOPE is down.

After a BUY fills, HOPE places a ``STOP_LOSS_LIMIT`` SELL of the position's net quantity at the
DECISION's stop-loss (:func:`plan_stop`); the venue holds it (and locks the base asset) until
it triggers or HOPE cancels it. Why a ``STOP_LOSS_LIMIT`` alone and not an OCO with the
take-profit: HOPE's other exits (timeout, flatten, a take-profit on the market clock) must
cancel whatever protects the position anyway, and one order is one unknown outcome to resolve
instead of an order list of three; the limit price sits ``limit_offset_pct`` below the stop so
it fills in a falling market, and a gap through it is the documented risk (runbook).

:class:`ProtectiveStop` is the state machine of one position's stop, pure: each method takes
what happened and returns the :class:`Action` list the executor carries out. The same
unknown-outcome rules as every order: an unknown placement or cancel is *queried* by its client
order id, never resubmitted (``-2013`` is tolerated for ``grace_s``, then the stop is LOST: an
ALERT, the reconciliation looks for it); a replacement is a *new* client id
(:func:`hope.trading.ids.stop_order_id` with the next generation), placed only once the old
stop is known cancelled. An exit SELL may only go out once the stop is known not to be working
(:class:`ExitAllowed`): while it is open the base asset is locked, and a stop that already
triggered has sold the position itself (:class:`ClosedByStop`).

Wall clock for ``grace_s`` (a transport timeout); prices and quantities are ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from hope.trading.ids import stop_order_id

ABSENT, PLACING, UNKNOWN, ACTIVE = "absent", "placing", "unknown", "active"
CANCELLING, CANCEL_UNKNOWN, CANCELLED = "cancelling", "cancel_unknown", "cancelled"
TRIGGERED, FILLED, FAILED, LOST = "triggered", "filled", "failed", "lost"
WORKING_STATUSES = frozenset({"NEW", "PENDING_NEW"})
ENDED_STATUSES = frozenset({"CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


class Rules(Protocol):
    """The symbol filters a stop needs (``hope.venue.filters.SymbolRules`` has them)."""

    symbol: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    base_precision: int


class StopRefused(ValueError):
    """No valid stop for this position (``filter`` names the venue's filter)."""

    def __init__(self, filter_name: str, detail: str) -> None:
        super().__init__(f"{filter_name}: {detail}")
        self.filter = filter_name
        self.detail = detail


def _down(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def _text(value: Decimal) -> str:
    out = format(value.normalize(), "f")
    return "0" if out == "-0" else out


@dataclass(frozen=True)
class StopPlan:
    """The parameters of one ``STOP_LOSS_LIMIT`` SELL (``POST /api/v3/order``)."""

    symbol: str
    client_id: str
    quantity: Decimal
    stop_price: Decimal
    price: Decimal

    def params(self) -> dict[str, str]:
        return {"symbol": self.symbol, "side": "SELL", "type": "STOP_LOSS_LIMIT",
                "timeInForce": "GTC", "quantity": _text(self.quantity),
                "price": _text(self.price), "stopPrice": _text(self.stop_price),
                "newClientOrderId": self.client_id, "newOrderRespType": "RESULT"}


def stop_level(targets: dict[str, Any], entry_price: Decimal) -> Decimal:
    """The stop-loss price of a DECISION's targets (``stop_loss_pct`` or a ``stop_loss`` level)."""
    if "stop_loss_pct" in targets:
        return entry_price * (1 - Decimal(str(targets["stop_loss_pct"])) / 100)
    if "stop_loss" in targets:
        return Decimal(str(targets["stop_loss"]))
    raise StopRefused("targets", "no stop_loss_pct or stop_loss")


def plan_stop(rules: Rules, position_id: str, quantity: Decimal, level: Decimal, *,
              generation: int = 1, limit_offset_pct: Decimal = Decimal("1"),
              last_price: Decimal | None = None) -> StopPlan:
    """The stop for ``quantity`` (net of base-asset fees) at ``level``, inside the filters:
    prices rounded down to the tick, the quantity down to the step; StopRefused otherwise."""
    sym = rules.symbol
    stop = _down(level, rules.tick_size)
    price = _down(stop * (1 - limit_offset_pct / 100), rules.tick_size)
    for name, value in (("stopPrice", stop), ("price", price)):
        if value <= 0 or value < rules.min_price:
            raise StopRefused("PRICE_FILTER", f"{sym} {name} {value} below minPrice "
                                              f"{rules.min_price}")
        if rules.max_price > 0 and value > rules.max_price:
            raise StopRefused("PRICE_FILTER", f"{sym} {name} {value} above maxPrice "
                                              f"{rules.max_price}")
    if last_price is not None and last_price <= stop:
        raise StopRefused("STOP_PRICE_WOULD_TRIGGER_IMMEDIATELY",
                          f"{sym} last price {last_price} at or below the stop {stop}: "
                          "exit at market instead")
    qty = _down(_down(quantity, Decimal(1).scaleb(-rules.base_precision)), rules.step_size)
    if qty <= 0 or qty < rules.min_qty:
        raise StopRefused("LOT_SIZE", f"{sym} quantity {qty} below minQty {rules.min_qty}")
    if rules.max_qty > 0 and qty > rules.max_qty:
        raise StopRefused("LOT_SIZE", f"{sym} quantity {qty} above maxQty {rules.max_qty}")
    if qty * price < rules.min_notional:
        raise StopRefused("NOTIONAL", f"{sym} {qty} x {price} below minNotional "
                                      f"{rules.min_notional}")
    return StopPlan(sym, stop_order_id(position_id, generation), qty, stop, price)


# --- what the executor is told to do -----------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """Base of what :class:`ProtectiveStop` asks the executor to do."""


@dataclass(frozen=True)
class Place(Action):
    plan: StopPlan


@dataclass(frozen=True)
class Cancel(Action):
    symbol: str
    client_id: str


@dataclass(frozen=True)
class Query(Action):
    symbol: str
    client_id: str


@dataclass(frozen=True)
class ExitAllowed(Action):
    """The stop is known not to be working: HOPE's exit SELL may go out."""

    reason: str


@dataclass(frozen=True)
class ClosedByStop(Action):
    """The venue's stop traded: it sells the position; HOPE sends no exit, it reports the
    stop's fills (the fill book) in a CLOSE with reason ``stop_loss``."""

    client_id: str
    status: str


@dataclass(frozen=True)
class Alert(Action):
    reason: str


@dataclass
class ProtectiveStop:
    """The exchange-side stop of one position, as HOPE knows it."""

    position_id: str
    symbol: str
    grace_s: float = 60.0
    state: str = ABSENT
    generation: int = 0
    plan: StopPlan | None = None
    venue_order_id: int | None = None
    unknown_since: float | None = None
    exit_wanted: str | None = None          # why HOPE wants out (set by cancel())
    replacement: StopPlan | None = None     # placed once the current stop is known cancelled
    history: list[str] = field(default_factory=list)

    @property
    def client_id(self) -> str | None:
        return self.plan.client_id if self.plan else None

    def _to(self, state: str, why: str) -> None:
        self.history.append(f"{self.state}->{state}: {why}")
        self.state = state

    # --- placing ------------------------------------------------------------------------------
    def next_generation(self) -> int:
        return self.generation + 1

    def place(self, plan: StopPlan) -> list[Action]:
        """Send this plan (its client id of :meth:`next_generation`) when no stop works."""
        if self.state not in (ABSENT, CANCELLED, FAILED):
            raise ValueError(f"stop {self.client_id}: cannot place while {self.state}")
        if self.exit_wanted:
            return [ExitAllowed(self.exit_wanted)]
        self.plan, self.generation, self.venue_order_id = plan, self.generation + 1, None
        self._to(PLACING, f"placing {plan.client_id}")
        return [Place(plan)]

    def placed(self, status: str, venue_order_id: int, executed_qty: Decimal = Decimal(0),
               ) -> list[Action]:
        """The venue's reply (or a query) says the stop exists with this status."""
        self.venue_order_id, self.unknown_since = venue_order_id, None
        return self._status(status, executed_qty, "placed")

    def refused(self, reason: str) -> list[Action]:
        """Definitively refused (nothing exists): the position is unprotected at the venue."""
        self._to(FAILED, reason)
        out: list[Action] = [Alert(f"protective stop {self.client_id} for {self.symbol} "
                                   f"refused: {reason}; the position is protected only while "
                                   "HOPE runs")]
        return out + self._after_gone("the stop was refused")

    def not_sent(self, reason: str) -> list[Action]:
        """Refused before anything left (a local budget, the clock guard): no stop exists;
        placed again later (:meth:`unprotected`)."""
        self._to(ABSENT, f"not sent: {reason}")
        return self._after_gone("the stop was not sent")

    @property
    def unprotected(self) -> bool:
        """Not sent (nothing exists) and no exit wants it gone: placed again later. A stop the
        venue refused stays FAILED (its ALERT said so): sending it again would be refused
        again."""
        return self.state == ABSENT and not self.exit_wanted

    def outcome_unknown(self, now: float, what: str) -> list[Action]:
        """The placement (or cancel) may or may not have happened: query, never resend."""
        cancelling = self.state in (CANCELLING, CANCEL_UNKNOWN)
        self.unknown_since = self.unknown_since if self.unknown_since is not None else now
        self._to(CANCEL_UNKNOWN if cancelling else UNKNOWN, what)
        return [Query(self.symbol, self.client_id or "")]

    def query_result(self, status: str | None, now: float, venue_order_id: int | None = None,
                     executed_qty: Decimal = Decimal(0)) -> list[Action]:
        """The answer to a Query: the venue's status, or None for ``-2013`` NO_SUCH_ORDER."""
        if status is not None:
            self.unknown_since = None
            if venue_order_id is not None:
                self.venue_order_id = venue_order_id
            return self._status(status, executed_qty, "query")
        since = self.unknown_since if self.unknown_since is not None else now
        self.unknown_since = since
        if now - since < self.grace_s:
            return [Query(self.symbol, self.client_id or "")]   # -2013 right after placing
        if self.state == CANCEL_UNKNOWN:   # it was there before: cancelled then gone
            self._to(CANCELLED, f"not found {self.grace_s:g} s after an unknown cancel")
            return self._after_gone("the stop is no longer at the venue")
        self._to(LOST, f"not found {self.grace_s:g} s after an unknown placement")
        return [Alert(f"protective stop {self.client_id} for {self.symbol}: outcome unknown "
                      f"and not found for {self.grace_s:g} s; reconciliation looks for it, "
                      "the position is protected only while HOPE runs")] + (
            [ExitAllowed(self.exit_wanted)] if self.exit_wanted else [])

    # --- leaving ------------------------------------------------------------------------------
    def cancel(self, why: str) -> list[Action]:
        """HOPE exits (take-profit, timeout, flatten): get the stop out of the way first."""
        self.exit_wanted = why
        if self.state in (ABSENT, CANCELLED, FAILED, LOST):
            return [ExitAllowed(why)]
        if self.state in (TRIGGERED, FILLED):
            return [ClosedByStop(self.client_id or "", self.state)]
        if self.state == ACTIVE:
            self._to(CANCELLING, why)
            return [Cancel(self.symbol, self.client_id or "")]
        # placing or unknown: resolve first; the answer leads to the cancel
        return [Query(self.symbol, self.client_id or "")]

    def replace(self, plan: StopPlan) -> list[Action]:
        """A new stop (new quantity or level): cancel the working one, then place ``plan``."""
        if self.state in (ABSENT, CANCELLED, FAILED):
            return self.place(plan)
        self.replacement = plan
        if self.state == ACTIVE:
            self._to(CANCELLING, f"replacing with {plan.client_id}")
            return [Cancel(self.symbol, self.client_id or "")]
        return [Query(self.symbol, self.client_id or "")] if self.state in (
            PLACING, UNKNOWN, LOST) else []

    def cancel_refused_unknown_order(self) -> list[Action]:
        """``-2011`` on the cancel: not open any more (traded, or never there): ask."""
        self._to(CANCEL_UNKNOWN, "cancel answered -2011 Unknown order")
        return [Query(self.symbol, self.client_id or "")]

    def stream_update(self, status: str, executed_qty: Decimal) -> list[Action]:
        """An ``executionReport`` for this stop's client id (``X`` and ``z``)."""
        return self._status(status, executed_qty, "stream")

    # --- shared -------------------------------------------------------------------------------
    def _status(self, status: str, executed: Decimal, via: str) -> list[Action]:
        if status in WORKING_STATUSES:
            if self.exit_wanted or self.replacement:
                self._to(CANCELLING, f"{via}: {status}; cancelling")
                return [Cancel(self.symbol, self.client_id or "")]
            self._to(ACTIVE, f"{via}: {status}")
            return []
        if status == "PARTIALLY_FILLED":
            self._to(TRIGGERED, f"{via}: triggered, {executed} sold")
            return [ClosedByStop(self.client_id or "", TRIGGERED)]
        if status == "FILLED":
            self._to(FILLED, f"{via}: filled")
            return [ClosedByStop(self.client_id or "", FILLED)]
        if status in ENDED_STATUSES:
            self._to(CANCELLED, f"{via}: {status}, {executed} sold")
            out: list[Action] = []
            if executed > 0:   # partly sold before it ended: report those fills too
                out.append(ClosedByStop(self.client_id or "", f"{status.lower()}_partial"))
            if status != "CANCELED" and not (self.exit_wanted or self.replacement):
                out.append(Alert(f"protective stop {self.client_id} for {self.symbol} "
                                 f"ended {status} without HOPE cancelling it"))
            return out + self._after_gone(f"the stop is {status}")
        raise ValueError(f"stop {self.client_id}: unknown venue status {status!r}")

    def _after_gone(self, why: str) -> list[Action]:
        if self.exit_wanted:
            return [ExitAllowed(self.exit_wanted)]
        if self.replacement is not None:
            plan, self.replacement = self.replacement, None
            return self.place(plan)
        return []

    def to_record(self) -> dict[str, Any]:
        """What the executor's ledger keeps across restarts."""
        p = self.plan
        return {"position_id": self.position_id, "symbol": self.symbol, "state": self.state,
                "generation": self.generation, "venue_order_id": self.venue_order_id,
                "unknown_since": self.unknown_since, "exit_wanted": self.exit_wanted,
                "plan": None if p is None else {
                    "client_id": p.client_id, "quantity": str(p.quantity),
                    "stop_price": str(p.stop_price), "price": str(p.price)}}

    @classmethod
    def from_record(cls, rec: dict[str, Any], grace_s: float = 60.0) -> ProtectiveStop:
        p = rec.get("plan")
        plan = None if p is None else StopPlan(rec["symbol"], p["client_id"],
                                               Decimal(p["quantity"]), Decimal(p["stop_price"]),
                                               Decimal(p["price"]))
        return cls(rec["position_id"], rec["symbol"], grace_s=grace_s, state=rec["state"],
                   generation=int(rec["generation"]), plan=plan,
                   venue_order_id=rec.get("venue_order_id"),
                   unknown_since=rec.get("unknown_since"), exit_wanted=rec.get("exit_wanted"))


def is_stop_id(client_id: str) -> bool:
    """Does this client order id name a protective stop (``<position>-s<n>``)?"""
    head, sep, gen = client_id.rpartition("-s")
    return bool(sep and head and gen.isdigit())
