"""Reconciliation with a live venue: at every start and periodically, before any order leaves.

While it runs the venue breaker is ``reconciling`` (a retry after a failure leaves it
``open``: no BREAKER event while nothing changes). It reads the venue's filters, checks the
API key's restrictions (a key that may withdraw fails it, and raises
:class:`~hope.venue.adapter.WithdrawalsEnabled`: the service refuses to start), queries every order intent
of unknown outcome by ``origClientOrderId`` (BUYs and exits), lists the venue's open orders
with HOPE's prefix, and compares the balances with the open positions
(:func:`hope.venue.reconcile.build_report`). The report is published as a RECONCILIATION
event (the audit log keeps it); a failure raises ALERT ``reconciliation_failed`` (once per
distinct failure, not at every retry) and leaves the
breaker ``open`` with the reason, so every BUY is SKIPped (decision engine) or REJECTED
(executor) until a later reconciliation passes.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from hope.execution.executor import Publish
from hope.execution.records import PendingOrder
from hope.files import atomic_write_json
from hope.trading.ids import close_order_id
from hope.venue.adapter import WithdrawalsEnabled
from hope.venue.errors import VenueError
from hope.venue.gate import CLOSED, OPEN, RECONCILING
from hope.venue.reconcile import Held, ReconcileReport, build_report

RECHECKS_FILE = "venue-rechecks.json"
RECHECK_S = 3600.0  # wall clock: how long a BUY rejected as not found is looked for again
_SECONDS = re.compile(r"\b\d+ s\b")


def failure_key(reason: str) -> str:
    """What makes two failures the same failure: the reason without its durations (a retry
    that fails "for another 12 s" fails as the one "for another 13 s" did)."""
    return _SECONDS.sub("N s", reason)


class Rechecks:
    """BUYs REJECTED because the venue did not know them after the grace: an order may still
    show up later, so every reconciliation asks for them again for ``RECHECK_S``. One that
    showed up is kept (reconciliation fails) until an operator releases it with
    ``hope ack-position <order_id>`` after dealing with it at the venue. A file of
    ``{client id: {"symbol", "until", "found"}}`` beside the ledger (rare: temp → rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        self.items: dict[str, dict[str, Any]] = data if isinstance(data, dict) else {}

    def add(self, cid: str, symbol: str, now: float) -> None:
        self.items[cid] = {"symbol": symbol, "until": now + RECHECK_S}
        self._save()

    def expire(self, now: float) -> None:
        old = [cid for cid, v in self.items.items()
               if float(v.get("until", 0)) <= now and not v.get("found")]
        for cid in old:
            del self.items[cid]
        if old:
            self._save()

    def found(self, cid: str) -> None:
        if not self.items[cid].get("found"):
            self.items[cid]["found"] = True
            self._save()

    def release(self, cid: str) -> bool:
        """The operator dealt with it: stop failing reconciliation for it."""
        if self.items.pop(cid, None) is None:
            return False
        self._save()
        return True

    def _save(self) -> None:
        atomic_write_json(self.path, self.items)


class LiveReconcile:
    """The reconciliation half of :class:`~hope.execution.live.LiveExecutor` (a mixin)."""

    _alerted: str | None = None  # the failure last ALERTed (a retry failing alike is quiet)

    async def reconcile(self, publish: Publish) -> dict[str, Any]:
        """The start: set unreadable ledger records apart (reported), then reconcile."""
        report: dict[str, Any] = {"resumed": 0, "dropped": [], "orphans": [], "quarantined": []}
        self.store.open()
        for rec in self.store.quarantined.values():
            report["quarantined"].append({**rec.alert(), "at_venue": None})
            self.stats["ledger_quarantined"] += 1
        report["venue"] = await self.reconcile_venue(publish)
        report["resumed"] = report["venue"]["resolved"]
        self.store.save()
        return report

    async def reconcile_venue(self, publish: Publish) -> dict[str, Any]:
        if self.gate.state != OPEN:
            # A retry after a failure leaves the breaker open (it refuses every order as
            # "reconciling" would): its state changes only when the outcome does, so a
            # failing venue gives no BREAKER pair at every retry.
            self.gate.set(RECONCILING, "reconciliation running")
        self._set_changed()
        refused: WithdrawalsEnabled | None = None
        try:
            rep = await self._gather(publish)
        except VenueError as exc:
            rep = ReconcileReport(self.venue.name, self.wall())
            rep.error = exc.describe()
        except WithdrawalsEnabled as exc:  # reported like any failure, then raised: no start
            rep, refused = ReconcileReport(self.venue.name, self.wall()), exc
            rep.error = str(exc)
        finally:
            await self.audit_replies(publish, None)
        payload = rep.as_payload()
        self.last_report = payload
        self.stats["reconciliations"] += 1
        await publish("RECONCILIATION", {"service": "executor", **payload}, parent=None,
                      timestamp=None)
        if rep.passed:
            self.gate.set(CLOSED, "")
            self._alerted = None
        else:
            self.stats["reconciliations_failed"] += 1
            self.gate.set(OPEN, rep.reason())
            key = failure_key(rep.reason())
            if key != self._alerted:  # once per failure, not per retry
                self._alerted = key
                if self.log:
                    self.log.error("reconciliation failed: trading SKIPs", reason=rep.reason())
                await publish("ALERT", {"kind": "reconciliation_failed", "service": "executor",
                                        "venue": self.venue.name, "detail": rep.reason()[:1000],
                                        "problems": rep.problems[:20]},
                              parent=None, timestamp=None)
        self._set_changed()
        if refused is not None:
            raise refused
        return payload

    def _set_changed(self) -> None:
        hook = getattr(self, "on_gate_change", None)
        if hook is not None:
            hook()

    async def _gather(self, publish: Publish) -> ReconcileReport:
        await self.venue.check_restrictions()
        await self.venue.load_rules()
        unresolved: dict[str, str] = {}
        resolved = 0
        for cid, rec in self.pending():
            try:
                await self._progress(cid, rec, publish)
            except VenueError:
                raise
            except Exception as exc:  # a record that cannot be finished: a problem, reported
                unresolved[cid] = f"{type(exc).__name__}: {exc}"
                continue
            now = self.store.orders.get(cid)
            if isinstance(now, PendingOrder):
                unresolved[cid] = now.unknown.reason if now.unknown else "outcome not known yet"
            else:
                resolved += 1
        await self.settle_stops(publish)  # first: a stop that sold makes its exit moot
        await self.resolve_closes(publish)
        found_later = await self._recheck_not_found()
        for pos in self.positions.open_positions():
            if pos.closing and pos.closing.attempted:
                why = pos.exit.unknown if pos.exit is not None else None
                unresolved[close_order_id(pos.order_id)] = why or "exit pending"
        open_orders = await self.venue.hope_open_orders()
        balances = await self.venue.balances()
        known = set(self.store.orders) | {close_order_id(o) for o in self.store.positions}
        known |= self.stop_ids()
        return build_report(self.venue.name, self.wall(), unresolved=unresolved,
                            resolved=resolved, open_orders=open_orders, known_ids=known,
                            held=self._held_assets(), balances=balances,
                            found_later=found_later)

    async def _recheck_not_found(self) -> dict[str, str]:
        """A BUY rejected as not found that the venue now has is a position nobody manages."""
        self.rechecks.expire(self.wall())
        found_later = {}
        for cid, item in sorted(self.rechecks.items.items()):
            found = await self.venue.query(str(item["symbol"]), cid, with_fills=False)
            if found is not None and not found.ended_empty:
                self.rechecks.found(cid)
                found_later[cid] = (f"{found.status}, executed {found.executed_qty} "
                                    f"(venue order {found.order_id})")
        return found_later

    def _held_assets(self) -> list[Held]:
        by_asset: dict[str, list[Any]] = {}
        for pos in self.positions.open_positions():
            rules = self.venue.rules.get(pos.symbol)
            base = pos.base or (rules.base if rules else pos.symbol)
            by_asset.setdefault(base, []).append(pos)
        out = []
        for asset, positions in sorted(by_asset.items()):
            rules = self.venue.rules.get(positions[0].symbol)
            qty = sum((Decimal(str(p.quantity)) for p in positions), Decimal(0))
            out.append(Held(asset, qty, rules.step if rules else Decimal(0),
                            tuple(p.order_id for p in positions)))
        return out
