"""Carrying out what each position's :class:`~hope.venue.stops.ProtectiveStop` asks, at the venue.

:class:`StopDriver` keeps one state machine per position, journaled on every change
(``<state>/venue/stops.jsonl``, the latest record per position wins at start), and runs its
actions through three injected coroutines, so it is tested against the stand-in and against
fakes alike:

- ``place(params) -> reply``: ``POST /api/v3/order`` with the plan's parameters;
- ``cancel(symbol, client_id) -> reply | None``: ``DELETE /api/v3/order``, None when the venue
  has no such open order (``-2011``/``-2013``);
- ``query(symbol, client_id) -> order | None``: ``GET /api/v3/order``, None on ``-2013``.

A raised error's ``outcome`` attribute (``"refused"`` or ``"unknown"``, as
``hope.venue.errors`` types them; anything else counts as unknown) decides between a
definitive refusal and an outcome to query; a refusal without an HTTP status was never sent
(``NotSent``: a local budget, the venue unreachable) and the stop is placed again later
(:meth:`StopDriver.unprotected`). The executor calls :meth:`protect` after a BUY
filled, :meth:`clear` before an exit SELL (it may sell only on :class:`ExitAllowed`; on
:class:`ClosedByStop` the venue sold the position), :meth:`resolve` periodically for stops of
unknown outcome, :meth:`on_execution_report` for the user stream's reports of a stop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from hope.files import atomic_write_bytes
from hope.journal import JSON, Journal, quarantine_torn, read_journal
from hope.venue.stops import (
    CANCEL_UNKNOWN,
    PLACING,
    UNKNOWN,
    Action,
    Alert,
    Cancel,
    ClosedByStop,
    ExitAllowed,
    Place,
    ProtectiveStop,
    Query,
    StopPlan,
)

Place_ = Callable[[dict[str, str]], Awaitable[dict[str, Any]]]
Cancel_ = Callable[[str, str], Awaitable[dict[str, Any] | None]]
Query_ = Callable[[str, str], Awaitable[dict[str, Any] | None]]
DONE = (ExitAllowed, ClosedByStop)
FORGOTTEN = "forgotten"


def _outcome(exc: Exception) -> str:
    if getattr(exc, "outcome", "unknown") != "refused":
        return "unknown"
    return "not_sent" if getattr(exc, "http_status", 0) is None else "refused"


def _describe(exc: Exception) -> str:
    describe = getattr(exc, "describe", None)
    return (describe() if callable(describe) else f"{type(exc).__name__}: {exc}")[:300]


def _executed(reply: dict[str, Any]) -> Decimal:
    return Decimal(str(reply.get("executedQty") or "0"))


class StopDriver:
    """Every position's protective stop, its actions carried out, its state journaled."""

    def __init__(self, path: Path, *, place: Place_, cancel: Cancel_, query: Query_,
                 grace_s: float = 60.0, wall: Callable[[], float] = time.time,
                 quarantine_dir: Path | None = None, log: Any = None) -> None:
        self.path = Path(path)
        self._place, self._cancel, self._query = place, cancel, query
        self.grace_s = grace_s
        self.wall = wall
        self.log = log
        self.stops: dict[str, ProtectiveStop] = {}
        self.alerts: list[str] = []
        self._journal = Journal(self.path, fsync_interval_s=0.02)
        contents = read_journal(self.path)
        if contents is not None:
            for rec in contents.records:
                if rec.get("state") == FORGOTTEN:
                    self.stops.pop(str(rec.get("position_id")), None)
                    continue
                stop = ProtectiveStop.from_record(rec, grace_s=grace_s)
                self.stops[stop.position_id] = stop
            if contents.torn:
                quarantine_torn(contents, quarantine_dir or self.path.parent, "stops-torn", log)
            # rewritten at each start: one line per live stop (the journal stays small)
            atomic_write_bytes(self.path, b"".join(JSON.encode(s.to_record()) + b"\n"
                                                   for s in self.stops.values()))

    def _save(self, stop: ProtectiveStop) -> None:
        self._journal.append(stop.to_record())

    def by_client_id(self, client_id: str) -> ProtectiveStop | None:
        return next((s for s in self.stops.values() if s.client_id == client_id), None)

    # --- what the executor calls --------------------------------------------------------------
    async def protect(self, position_id: str, symbol: str, plan: StopPlan) -> Action | None:
        """Place the stop of a position that just opened (journaled before it is sent)."""
        stop = self.stops.get(position_id) or ProtectiveStop(position_id, symbol,
                                                             grace_s=self.grace_s)
        self.stops[position_id] = stop
        return await self._run(stop, stop.place(plan))

    async def clear(self, position_id: str, why: str) -> Action | None:
        """Get the stop out of the way of an exit: ExitAllowed, ClosedByStop, or None (not
        known yet: ask again later; never sell meanwhile)."""
        stop = self.stops.get(position_id)
        if stop is None:
            return ExitAllowed(why)
        return await self._run(stop, stop.cancel(why))

    async def resolve(self) -> None:
        """Ask again about every stop whose placement or cancel is of unknown outcome."""
        for stop in list(self.stops.values()):
            if stop.state in (UNKNOWN, CANCEL_UNKNOWN, PLACING):
                await self._run(stop, [Query(stop.symbol, stop.client_id or "")])

    def observed(self, position_id: str, status: str, venue_order_id: int | None,
                 executed_qty: Decimal) -> Action | None:
        """The venue's state of a stop learned outside the driver (a reconciliation's query):
        applied and journaled (a fill: ClosedByStop), so a later exit takes the stop's fills
        instead of sending a SELL."""
        stop = self.stops.get(position_id)
        if stop is None:
            return None
        actions = stop.query_result(status, self.wall(), venue_order_id, executed_qty)
        self._save(stop)
        self.alerts += [a.reason for a in actions if isinstance(a, Alert)]
        done = [a for a in actions if isinstance(a, DONE)]
        return done[0] if done else None

    def on_execution_report(self, event: dict[str, Any]) -> Action | None:
        """A user-stream report: if it is a stop's, its new state (a fill: ClosedByStop)."""
        cid = event.get("C") if event.get("x") == "CANCELED" and event.get("C") else event.get("c")
        stop = self.by_client_id(str(cid)) if cid else None
        if stop is None or event.get("X") is None:
            return None
        actions = stop.stream_update(str(event["X"]), Decimal(str(event.get("z") or "0")))
        self._save(stop)
        done = [a for a in actions if isinstance(a, DONE)]
        self.alerts += [a.reason for a in actions if isinstance(a, Alert)]
        return done[0] if done else None

    def unprotected(self) -> list[str]:
        """Positions whose stop was not sent (and no exit wants it gone): to place again."""
        return [pid for pid, s in self.stops.items() if s.unprotected]

    def forget(self, position_id: str) -> None:
        """The position is closed and its stop settled: drop it (journaled)."""
        stop = self.stops.pop(position_id, None)
        if stop is not None:
            self._journal.append({**stop.to_record(), "state": FORGOTTEN})

    def close(self) -> None:
        self._journal.close()

    # --- carrying out -------------------------------------------------------------------------
    async def _run(self, stop: ProtectiveStop, actions: list[Action]) -> Action | None:
        self._save(stop)
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            if isinstance(action, DONE):
                return action
            if isinstance(action, Alert):
                self.alerts.append(action.reason)
                if self.log is not None:
                    self.log.warning("protective stop", reason=action.reason)
                continue
            more = await self._do(stop, action)
            self._save(stop)
            if isinstance(action, Query) and more == [action]:
                return None   # -2013 inside the grace: asked again later, not in a loop
            queue = more + queue
        return None

    async def _do(self, stop: ProtectiveStop, action: Action) -> list[Action]:
        now = self.wall()
        try:
            if isinstance(action, Place):
                reply = await self._place(action.plan.params())
                return stop.placed(str(reply.get("status", "NEW")), int(reply["orderId"]),
                                   _executed(reply))
            if isinstance(action, Cancel):
                reply = await self._cancel(action.symbol, action.client_id)
                if reply is None:
                    return stop.cancel_refused_unknown_order()
                return stop.query_result(str(reply.get("status")), now,
                                         int(reply.get("orderId", 0)) or None, _executed(reply))
            if isinstance(action, Query):
                reply = await self._query(action.symbol, action.client_id)
                if reply is None:
                    return stop.query_result(None, now)
                return stop.query_result(str(reply.get("status")), now,
                                         int(reply.get("orderId", 0)) or None, _executed(reply))
        except Exception as exc:  # the venue's answer decides: refused, or ask again
            outcome = _outcome(exc)
            if outcome == "not_sent" and isinstance(action, Place):
                return stop.not_sent(_describe(exc))
            if outcome == "refused" and isinstance(action, Place):
                return stop.refused(_describe(exc))
            if isinstance(action, Query):
                return []   # the query itself failed: state unchanged, resolve() asks again
            return stop.outcome_unknown(now, _describe(exc))
        raise TypeError(f"stop driver: unknown action {action!r}")
