"""The live-venue chaos table: the stand-in's own books counted against HOPE's audit log.

Pure functions over what ``/sim/v1/orders``, ``/sim/v1/trades`` and ``/sim/v1/accounts``
answer and the audit records (``hope.audit.reader``); nothing here trusts HOPE's own counts:

- **orders**: per BUY DECISION the venue holds at most one order with its client id, exactly
  one when HOPE's terminal ORDER says the venue has it, none when HOPE refused it before
  sending; per exit (a CLOSE) exactly one venue SELL with ``<order_id>-x``; no venue order HOPE
  cannot name; per BUY at most one ORDER ``UNKNOWN`` and exactly one terminal ORDER;
- **fills**: every venue trade exactly once among the audited FILL ``trade_ids`` and CLOSE
  ``exit_trade_ids``, and no audited trade id the venue does not have;
- **positions**: every BUY FILL has its CLOSE, or HOPE reports the position open;
- **balances**: per asset, the starting balance moved by every audited fill equals what the
  venue's account holds;
- **timing**: no BUY or exit SELL received (``receivedUs``) while HOPE was HALTED or
  reconciling (:func:`forbidden_windows`); protective stops placed then are counted apart.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hope.chaos.table import hist
from hope.trading.ids import client_order_id, close_order_id

EXIT_SUFFIX = close_order_id("")
STOP_RE = re.compile(r"^(?P<entry>.+)-s(?P<gen>[0-9]+)$")  # hope.trading.ids.stop_order_id
BALANCE_TOLERANCE = Decimal("1e-10")
EIGHT = Decimal("1e-8")
RESTRICTIONS_PATH = "/sapi/v1/account/apiRestrictions"  # the first request of a reconciliation


@dataclass(frozen=True)
class Window:
    """A span of wall time (µs) in which no order may reach the venue."""

    start_us: int
    end_us: int
    why: str


@dataclass
class VenueTable:
    buy_decisions: int = 0
    venue_orders_per_buy: dict[int, int] = field(default_factory=dict)
    exits: int = 0
    venue_orders_per_exit: dict[int, int] = field(default_factory=dict)
    venue_orders: int = 0
    venue_trades: int = 0
    stray_orders: list[str] = field(default_factory=list)
    stops: int = 0                      # protective stops placed (``-sN``)
    stops_sold: int = 0                 # of them, those that traded (the exit was the stop)
    ids_placed_twice: list[str] = field(default_factory=list)
    terminal_orders_per_buy: dict[int, int] = field(default_factory=dict)
    unknown_per_buy: dict[int, int] = field(default_factory=dict)
    order_status: dict[str, int] = field(default_factory=dict)
    trades_audited: dict[int, int] = field(default_factory=dict)
    trades_missing: list[str] = field(default_factory=list)
    trades_phantom: list[str] = field(default_factory=list)
    positions_closed: int = 0
    positions_open: int = 0
    positions_lost: list[str] = field(default_factory=list)
    balances: dict[str, tuple[str, str]] = field(default_factory=dict)  # asset: (hope, venue)
    balance_mismatch: list[str] = field(default_factory=list)
    windows: int = 0
    sent_in_windows: list[str] = field(default_factory=list)
    stops_in_windows: int = 0           # protective stops placed inside a window (allowed)
    problems_found: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = list(self.problems_found)
        if {k for k in self.venue_orders_per_buy if k > 1}:
            out.append(f"BUY decisions with more than one venue order: "
                       f"{hist(self.venue_orders_per_buy)}")
        if {k for k in self.venue_orders_per_exit if k != 1}:
            out.append(f"exits without exactly one executed venue SELL: "
                       f"{hist(self.venue_orders_per_exit)}")
        if self.ids_placed_twice:
            out.append(f"client ids placed more than once: {self.ids_placed_twice[:5]}")
        if self.stray_orders:
            out.append(f"venue orders HOPE cannot name: {self.stray_orders[:5]}")
        if {k for k in self.terminal_orders_per_buy if k != 1}:
            out.append(f"BUYs without exactly one terminal ORDER: "
                       f"{hist(self.terminal_orders_per_buy)}")
        if {k for k in self.unknown_per_buy if k > 1}:
            out.append(f"BUYs with more than one ORDER UNKNOWN: {hist(self.unknown_per_buy)}")
        if {k for k in self.trades_audited if k != 1}:
            out.append(f"venue trades not audited exactly once: {hist(self.trades_audited)}")
        for name in ("trades_missing", "trades_phantom", "positions_lost", "balance_mismatch",
                     "sent_in_windows"):
            items = getattr(self, name)
            if items:
                out.append(f"{name.replace('_', ' ')}: {items[:5]}")
        if self.buy_decisions == 0 or self.venue_orders == 0:
            out.append("no BUY reached the venue")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def entry_of(cid: str) -> str:
    """The BUY client id an exit (``-x``) or protective stop (``-sN``) belongs to."""
    m = STOP_RE.match(cid)
    if m:
        return m.group("entry")
    return cid.removesuffix(EXIT_SUFFIX)


def is_exit_sell(cid: str) -> bool:
    return cid.endswith(EXIT_SUFFIX) or STOP_RE.match(cid) is not None


def _executed(o: dict[str, Any]) -> bool:
    try:
        return Decimal(str(o.get("executedQty", "0"))) > 0
    except ArithmeticError:
        return False


def ts_us(timestamp: str) -> int:
    """An envelope timestamp (``2026-02-02T15:00:00.123456Z``) in µs since the epoch."""
    dt = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return int(dt.timestamp() * 1_000_000)


def _p(record: dict[str, Any]) -> dict[str, Any]:
    payload = record.get("payload")
    return payload if isinstance(payload, dict) else {}


def _of(records: Iterable[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event_type") == event_type]


# --- orders ---------------------------------------------------------------------------------
def count_orders(t: VenueTable, venue_orders: list[dict[str, Any]],
                 records: list[dict[str, Any]], open_ids: set[str]) -> None:
    by_cid = Counter(str(o.get("clientOrderId")) for o in venue_orders)
    buys = {client_order_id(r["event_id"]) for r in _of(records, "DECISION")
            if _p(r).get("action") == "BUY"}
    t.buy_decisions, t.venue_orders = len(buys), len(venue_orders)
    hope_orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _of(records, "ORDER"):
        hope_orders[str(_p(r).get("order_id"))].append(_p(r))
    t.order_status = dict(Counter(str(p.get("status")) for ps in hope_orders.values()
                                  for p in ps))
    t.venue_orders_per_buy = dict(Counter(by_cid.get(cid, 0) for cid in buys))
    terminal, unknown = Counter(), Counter()
    for cid in buys:
        statuses = [p.get("status") for p in hope_orders.get(cid, [])]
        terminal[cid] = sum(s != "UNKNOWN" for s in statuses)
        unknown[cid] = statuses.count("UNKNOWN")
        if by_cid.get(cid, 0) and not any(p.get("venue_order_id") for p in hope_orders[cid]) \
                and cid not in open_ids:
            t.problems_found.append(f"{cid}: at the venue, but no ORDER names its venue order")
    # a BUY still of unknown outcome at the end is reported open, not a missing terminal ORDER
    t.terminal_orders_per_buy = dict(Counter(terminal[c] for c in buys
                                             if not (terminal[c] == 0 and c in open_ids)))
    t.unknown_per_buy = dict(Counter(unknown.values()))
    closes = {str(_p(r).get("order_id")) for r in _of(records, "CLOSE")}
    t.exits = len(closes)
    sold: Counter = Counter(entry_of(str(o.get("clientOrderId"))) for o in venue_orders
                            if is_exit_sell(str(o.get("clientOrderId"))) and _executed(o))
    t.venue_orders_per_exit = dict(Counter(sold.get(c, 0) for c in closes))
    t.stops = sum(STOP_RE.match(cid) is not None for cid in by_cid)
    t.stops_sold = sum(STOP_RE.match(str(o.get("clientOrderId"))) is not None and _executed(o)
                       for o in venue_orders)
    t.ids_placed_twice = sorted(cid for cid, n in by_cid.items() if n > 1)
    for cid in by_cid:
        if cid in buys:
            continue
        entry = entry_of(cid)
        if is_exit_sell(cid) and entry in buys and (entry in closes or entry in open_ids
                                                    or STOP_RE.match(cid)):
            continue
        t.stray_orders.append(cid)


# --- fills ----------------------------------------------------------------------------------
def audited_trade_ids(records: list[dict[str, Any]]) -> Counter:
    """``(symbol, trade id)`` → how often HOPE's FILLs and CLOSEs report it."""
    seen: Counter = Counter()
    for r in _of(records, "FILL"):
        p = _p(r)
        for tid in p.get("trade_ids") or []:
            seen[(str(p.get("symbol")), int(tid))] += 1
    for r in _of(records, "CLOSE"):
        p = _p(r)
        for tid in p.get("exit_trade_ids") or []:
            seen[(str(p.get("symbol")), int(tid))] += 1
    return seen


def count_fills(t: VenueTable, venue_orders: list[dict[str, Any]],
                venue_trades: list[dict[str, Any]], records: list[dict[str, Any]],
                open_ids: set[str]) -> None:
    seen = audited_trade_ids(records)
    cid_of = {(str(o.get("symbol")), o.get("orderId")): str(o.get("clientOrderId"))
              for o in venue_orders}
    t.venue_trades = len(venue_trades)
    counts: Counter = Counter()
    at_venue = set()
    for tr in venue_trades:
        key = (str(tr.get("symbol")), int(tr["id"]))
        at_venue.add(key)
        cid = cid_of.get((key[0], tr.get("orderId")), "")
        if seen[key] == 0 and entry_of(cid) in open_ids:
            continue  # the order of a position still open or in flight: reported, not lost
        counts[seen[key]] += 1
        if seen[key] == 0:
            t.trades_missing.append(f"{key[0]} trade {key[1]} ({cid})")
    t.trades_audited = dict(counts)
    t.trades_phantom = [f"{s} trade {i}" for (s, i) in seen if (s, i) not in at_venue]


# --- positions and balances -----------------------------------------------------------------
def count_positions(t: VenueTable, records: list[dict[str, Any]], open_ids: set[str]) -> None:
    closes = {str(_p(r).get("order_id")) for r in _of(records, "CLOSE")}
    bought = {str(_p(r).get("order_id")) for r in _of(records, "FILL")
              if _p(r).get("side", "BUY") == "BUY"}
    t.positions_closed = len(bought & closes)
    t.positions_open = len(bought - closes)
    t.positions_lost = sorted((bought - closes) - open_ids)


def hope_balances(records: list[dict[str, Any]], initial: dict[str, Decimal],
                  assets_of: dict[str, tuple[str, str]]) -> dict[str, Decimal]:
    """Each asset's balance as HOPE's audited fills move it from ``initial`` (a fill's quote
    amount rounded to 8 places, as the venue books it). ``assets_of``: symbol → (base, quote)."""
    bal: dict[str, Decimal] = defaultdict(Decimal, initial)

    def apply(symbol: str, fills: list[dict[str, Any]], buy: bool) -> None:
        base, quote = assets_of[symbol]
        for f in fills:
            qty, price = Decimal(str(f["qty"])), Decimal(str(f["price"]))
            sign = 1 if buy else -1
            bal[base] += sign * qty
            bal[quote] -= sign * (qty * price).quantize(EIGHT)  # the venue's 8 places per fill
            bal[str(f["commission_asset"])] -= Decimal(str(f["commission"]))

    for r in _of(records, "FILL"):
        p = _p(r)
        apply(str(p["symbol"]), p.get("fills") or [], p.get("side", "BUY") == "BUY")
    for r in _of(records, "CLOSE"):
        p = _p(r)
        apply(str(p["symbol"]), p.get("exit_fills") or [], False)
    return dict(bal)


def count_balances(t: VenueTable, records: list[dict[str, Any]], initial: dict[str, Decimal],
                   venue_balances: list[dict[str, Any]],
                   assets_of: dict[str, tuple[str, str]]) -> None:
    venue = {str(b["asset"]): Decimal(str(b["free"])) + Decimal(str(b["locked"]))
             for b in venue_balances}
    hope = hope_balances(records, initial, assets_of)
    for asset in sorted(set(venue) | set(hope)):
        h, v = hope.get(asset, Decimal(0)), venue.get(asset, Decimal(0))
        t.balances[asset] = (f"{h:.8f}", f"{v:.8f}")
        # the stand-in rounds balances to 8 places as the venue does
        if abs(h - v) > EIGHT + BALANCE_TOLERANCE:
            t.balance_mismatch.append(f"{asset}: HOPE {h:.8f}, venue {v:.8f}")


# --- timing ---------------------------------------------------------------------------------
def forbidden_windows(records: list[dict[str, Any]], *, run_start_us: int,
                      kills_us: Iterable[int] = (), halt_grace_s: float = 1.0
                      ) -> list[Window]:
    """Spans in which no order may reach the venue, from the audit log (and the kill times):

    - HALTED: from the run's start (a live venue's first start is HALTED) and from each
      ``halt`` CONTROL (plus ``halt_grace_s``: a DECISION already in the executor may still
      leave) to the next ``resume`` CONTROL;
    - reconciling: from each executor kill (the restarted process reconciles first) and from
      each reconciliation's first request (``apiRestrictions``, its VENUE_REPLY's send time)
      to the next RECONCILIATION that passed."""
    recs = sorted(records, key=lambda r: r.get("timestamp", ""))
    out: list[Window] = []
    halted_from: int | None = run_start_us
    for r in recs:
        if r.get("event_type") != "CONTROL":
            continue
        cmd, at = _p(r).get("command"), ts_us(r["timestamp"])
        if cmd == "halt" and halted_from is None:
            halted_from = at + int(halt_grace_s * 1_000_000)
        elif cmd == "resume" and halted_from is not None:
            if at > halted_from:
                out.append(Window(halted_from, at, "HALTED"))
            halted_from = None
    end_of_time = 2**62
    if halted_from is not None:
        out.append(Window(halted_from, end_of_time, "HALTED"))
    passes = sorted(ts_us(r["timestamp"]) for r in recs
                    if r.get("event_type") == "RECONCILIATION" and _p(r).get("passed"))
    starts = [(k, "reconciling after a restart") for k in kills_us]
    starts += [(int(float(_p(r)["wall_ts"]) * 1_000_000), "reconciling")
               for r in recs if r.get("event_type") == "VENUE_REPLY"
               and _p(r).get("path") == RESTRICTIONS_PATH and _p(r).get("wall_ts")]
    for start, why in sorted(starts):
        end = next((p for p in passes if p >= start), end_of_time)
        out.append(Window(start, end, why))
    return out


def count_windows(t: VenueTable, venue_orders: list[dict[str, Any]],
                  windows: list[Window]) -> None:
    """BUYs and exit SELLs received inside a window are violations. A protective stop is
    counted apart: it only ever sells what a position holds, and the position it protects
    (a BUY resolved by the reconciliation itself) must not wait unprotected for it to end."""
    t.windows = len(windows)
    for o in venue_orders:
        at = o.get("receivedUs")
        if not isinstance(at, int):
            continue
        for w in windows:
            if w.start_us <= at <= w.end_us:
                cid = str(o.get("clientOrderId"))
                if STOP_RE.match(cid):
                    t.stops_in_windows += 1
                else:
                    t.sent_in_windows.append(f"{cid} while {w.why}")
                break


def compute_venue_table(books: dict[str, Any], records: list[dict[str, Any]], *,
                        initial: dict[str, Decimal], account: str,
                        assets_of: dict[str, tuple[str, str]], open_ids: set[str],
                        windows: list[Window]) -> VenueTable:
    """The whole table. ``books``: ``{"orders", "trades", "accounts"}`` as ``/sim/v1`` gives
    them; ``open_ids``: the BUY order ids HOPE reports open (a position, or still pending)."""
    orders = [o for o in books["orders"] if o.get("account", account) == account]
    trades = [tr for tr in books["trades"] if tr.get("account", account) == account]
    t = VenueTable()
    count_orders(t, orders, records, open_ids)
    count_fills(t, orders, trades, records, open_ids)
    count_positions(t, records, open_ids)
    count_balances(t, records, initial, books["accounts"].get(account, []), assets_of)
    count_windows(t, orders, windows)
    return t
