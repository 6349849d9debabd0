"""The reconciliation report: what HOPE believes against what the venue says, before trading.

Passes only when every order intent is resolved, the venue holds no open order with HOPE's
prefix that HOPE does not know, and the venue's balance of every base asset covers what HOPE's
open positions hold (within one quantity step). A balance above HOPE's positions is reported
but passes (the account may hold the asset for other reasons); a shortfall is a position that
drifted (sold by hand, a fee HOPE did not see) and fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hope.venue.orders import VenueOrder


@dataclass(frozen=True)
class Held:
    """What HOPE's open positions hold of one base asset."""

    asset: str
    quantity: Decimal
    step: Decimal = Decimal(0)
    order_ids: tuple[str, ...] = ()


@dataclass
class ReconcileReport:
    venue: str
    wall_ts: float
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    unknown_orders: list[dict[str, Any]] = field(default_factory=list)
    found_later: list[dict[str, Any]] = field(default_factory=list)
    balances: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    resolved: int = 0
    error: str | None = None   # the venue could not be asked: nothing is known

    @property
    def passed(self) -> bool:
        return not self.problems and self.error is None

    def reason(self) -> str:
        if self.error:
            return f"reconciliation could not run: {self.error}"
        return "; ".join(self.problems[:5]) + (" ..." if len(self.problems) > 5 else "")

    def as_payload(self) -> dict[str, Any]:
        return {"venue": self.venue, "passed": self.passed, "wall_ts": self.wall_ts,
                "resolved": self.resolved, "unresolved": self.unresolved,
                "unknown_orders": self.unknown_orders, "found_later": self.found_later,
                "balances": self.balances,
                "problems": self.problems, "error": self.error}


def build_report(venue: str, wall_ts: float, *, unresolved: dict[str, str], resolved: int,
                 open_orders: list[VenueOrder], known_ids: set[str],
                 held: list[Held], balances: dict[str, Decimal],
                 found_later: dict[str, str] | None = None) -> ReconcileReport:
    """``unresolved``: client id → why it is still of unknown outcome; ``open_orders``: the
    venue's open orders with HOPE's prefix; ``known_ids``: every client id HOPE knows;
    ``found_later``: BUYs HOPE rejected as not found that the venue has after all → what."""
    report = ReconcileReport(venue, wall_ts, resolved=resolved)
    for cid, what in sorted((found_later or {}).items()):
        report.found_later.append({"order_id": cid, "venue": what})
        report.problems.append(f"order {cid} was REJECTED as not found, but the venue has it: "
                               f"{what}")
    for cid, why in sorted(unresolved.items()):
        report.unresolved.append({"order_id": cid, "reason": why})
        report.problems.append(f"order {cid} still of unknown outcome ({why})")
    for order in open_orders:
        if order.client_id in known_ids:
            continue
        report.unknown_orders.append({"order_id": order.client_id, "symbol": order.symbol,
                                      "venue_order_id": order.order_id, "side": order.side,
                                      "status": order.status,
                                      "orig_qty": float(order.orig_qty)})
        report.problems.append(f"venue order {order.client_id} ({order.symbol} {order.side}, "
                               f"venue id {order.order_id}) is not known to HOPE")
    for h in held:
        have = balances.get(h.asset, Decimal(0))
        diff = have - h.quantity
        row = {"asset": h.asset, "venue": float(have), "positions": float(h.quantity),
               "difference": float(diff), "order_ids": list(h.order_ids)}
        report.balances.append(row)
        if diff < -h.step:
            report.problems.append(f"balance {h.asset} {have} at the venue is below the "
                                   f"{h.quantity} HOPE's open positions hold")
    return report
