"""The live-venue chaos table: the stand-in's books against the audit records, counted purely."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hope.chaos.venue_books import (
    Window,
    compute_venue_table,
    forbidden_windows,
    hope_balances,
    ts_us,
)
from hope.chaos.venue_table import render
from hope.trading.ids import client_order_id

SYM = "EVXBTC"
ASSETS = {SYM: ("EVX", "BTC")}
INITIAL = {"BTC": Decimal("1.0")}


def rec(event_type: str, payload: dict[str, Any], ts: str = "2026-12-01T13:00:00.000000Z",
        event_id: str = "sha256:0") -> dict[str, Any]:
    return {"event_type": event_type, "event_id": event_id, "timestamp": ts,
            "payload": payload}


def fill(tid: int, qty: str, price: str, fee: str) -> dict[str, Any]:
    return {"trade_id": tid, "qty": float(qty), "price": float(price),
            "commission": float(fee), "commission_asset": "BTC"}


def vtrade(tid: int, order_id: int) -> dict[str, Any]:
    return {"symbol": SYM, "id": tid, "orderId": order_id, "account": "main"}


def vorder(cid: str, order_id: int, side: str, received_us: int = 10,
           executed: str = "100") -> dict[str, Any]:
    return {"symbol": SYM, "orderId": order_id, "clientOrderId": cid, "side": side,
            "status": "FILLED" if executed != "0" else "CANCELED", "executedQty": executed,
            "account": "main", "receivedUs": received_us}


def round_trip(decision_hex: str = "ab", tids: tuple[int, int] = (1, 2)):
    """One BUY decision, its venue BUY and SELL, and HOPE's ORDER, FILL and CLOSE."""
    did = "sha256:" + decision_hex
    cid = client_order_id(did)
    records = [
        rec("DECISION", {"action": "BUY", "symbol": SYM}, event_id=did),
        rec("ORDER", {"order_id": cid, "status": "UNKNOWN", "venue_order_id": None}),
        rec("ORDER", {"order_id": cid, "status": "NEW", "venue_order_id": 7}),
        rec("FILL", {"order_id": cid, "symbol": SYM, "side": "BUY", "trade_ids": [tids[0]],
                     "fills": [fill(tids[0], "100", "0.00001", "0.000001")]}),
        rec("CLOSE", {"order_id": cid, "symbol": SYM, "exit_trade_ids": [tids[1]],
                      "exit_fills": [fill(tids[1], "100", "0.000011", "0.0000011")]}),
    ]
    orders = [vorder(cid, 7, "BUY"), vorder(cid + "-x", 8, "SELL")]
    trades = [vtrade(tids[0], 7), vtrade(tids[1], 8)]
    return cid, records, orders, trades


def books(orders, trades, btc: str = "1.0000979", evx: str = "0") -> dict[str, Any]:
    return {"orders": orders, "trades": trades,
            "accounts": {"main": [{"asset": "BTC", "free": btc, "locked": "0"},
                                  {"asset": "EVX", "free": evx, "locked": "0"}]}}


def table(b, records, open_ids=(), windows=()):
    return compute_venue_table(b, records, initial=INITIAL, account="main", assets_of=ASSETS,
                               open_ids=set(open_ids), windows=list(windows))


def test_a_clean_round_trip_passes():
    """One BUY, one venue BUY and SELL, each trade once, balances equal: no problem."""
    _, records, orders, trades = round_trip()
    t = table(books(orders, trades), records)
    assert t.ok, t.problems
    assert t.venue_orders_per_buy == {1: 1} and t.venue_orders_per_exit == {1: 1}
    assert t.trades_audited == {1: 2} and t.unknown_per_buy == {1: 1}
    assert t.positions_closed == 1 and not t.positions_lost


def test_a_second_venue_order_for_one_decision_fails():
    """A resubmitted BUY (the same client id placed twice) is a doubled order."""
    cid, records, orders, trades = round_trip()
    t = table(books(orders + [vorder(cid, 9, "BUY")], trades), records)
    assert t.venue_orders_per_buy == {2: 1}
    assert any("more than one venue order" in p for p in t.problems)


def test_a_venue_trade_absent_from_the_audit_log_fails_and_one_audited_twice_fails():
    """A fill the audit log misses, and one it reports twice, are both named."""
    _, records, orders, trades = round_trip()
    missing = table(books(orders, trades + [vtrade(3, 7)]), records)
    assert missing.trades_missing == [f"{SYM} trade 3 ({orders[0]['clientOrderId']})"]
    doubled = records + [rec("FILL", {**records[3]["payload"], "fills": []})]
    t = table(books(orders, trades), doubled)
    assert t.trades_audited == {1: 1, 2: 1} and not t.ok


def test_an_audited_trade_id_unknown_to_the_venue_is_a_phantom():
    """HOPE reporting a trade id the venue never made fails the table."""
    _, records, orders, trades = round_trip()
    t = table(books(orders, trades[:1] + [vtrade(99, 8)]), records)
    assert f"{SYM} trade 2" in t.trades_phantom and not t.ok


def test_a_venue_order_hope_cannot_name_fails():
    """An order with HOPE's prefix but no decision behind it is a stray."""
    _, records, orders, trades = round_trip()
    t = table(books(orders + [vorder("hope-ffff", 12, "BUY")], trades), records)
    assert t.stray_orders == ["hope-ffff"] and not t.ok


def test_an_open_position_reported_open_passes_and_an_unreported_one_is_lost():
    """A FILL without CLOSE is fine when HOPE reports it open, lost otherwise."""
    cid, records, orders, trades = round_trip()
    no_exit = records[:4]
    b = books(orders[:1], trades[:1], btc="0.998999", evx="100")
    assert table(b, no_exit, open_ids=[cid]).ok
    lost = table(b, no_exit)
    assert lost.positions_lost == [cid] and not lost.ok


def test_an_exit_sold_twice_fails():
    """Two venue SELLs for one CLOSE: the exit was doubled."""
    cid, records, orders, trades = round_trip()
    t = table(books(orders + [vorder(cid + "-x", 10, "SELL")], trades), records)
    assert t.venue_orders_per_exit == {2: 1} and not t.ok


def test_an_exit_by_the_protective_stop_passes_and_is_counted_as_sold():
    """The stop ``-s1`` traded instead of the ``-x`` SELL: one executed exit, one stop sold."""
    cid, records, orders, trades = round_trip()
    stop = vorder(cid + "-s1", 8, "SELL")
    t = table(books([orders[0], stop], trades), records)
    assert t.ok, t.problems
    assert t.stops == 1 and t.stops_sold == 1 and t.venue_orders_per_exit == {1: 1}


def test_a_cancelled_protective_stop_then_the_exit_sell_passes():
    """The stop ``-s1`` cancelled unexecuted before the ``-x`` SELL: one executed exit."""
    cid, records, orders, trades = round_trip()
    t = table(books(orders + [vorder(cid + "-s1", 9, "SELL", executed="0")], trades), records)
    assert t.ok, t.problems
    assert t.stops == 1 and t.stops_sold == 0 and t.venue_orders_per_exit == {1: 1}


def test_a_position_closed_by_its_protective_stop_passes():
    """The venue's stop sold the position (no ``-x``); the CLOSE carries the stop's trade."""
    cid, records, orders, trades = round_trip()
    orders = [orders[0], vorder(cid + "-s1", 8, "SELL")]
    t = table(books(orders, trades), records)
    assert t.ok, t.problems


def test_a_stop_and_an_exit_both_executed_is_a_doubled_exit():
    """The stop traded and the ``-x`` SELL too: the position was sold twice."""
    cid, records, orders, trades = round_trip()
    t = table(books(orders + [vorder(cid + "-s1", 9, "SELL")], trades), records)
    assert t.venue_orders_per_exit == {2: 1} and not t.ok


def test_a_client_id_placed_twice_at_the_venue_fails():
    """A filled id is accepted again by the venue: a second stop ``-s1`` is a resubmission."""
    cid, records, orders, trades = round_trip()
    stop = vorder(cid + "-s1", 9, "SELL", executed="0")
    t = table(books(orders + [stop, {**stop, "orderId": 10}], trades), records)
    assert t.ids_placed_twice == [cid + "-s1"] and not t.ok


def test_balances_follow_the_audited_fills():
    """BUY 100 at 1e-5 with a 1e-6 fee, SELL at 1.1e-5 with 1.1e-6: BTC 1.0000979, EVX 0."""
    _, records, _, _ = round_trip()
    bal = hope_balances(records, INITIAL, ASSETS)
    assert bal["BTC"] == Decimal("1.0000979") and bal["EVX"] == 0


def test_each_fills_quote_amount_is_rounded_to_eight_places_as_the_venue_books_it():
    """A fill of 3 at 0.000000333 moves the quote by 0.00000100 (not 0.000000999)."""
    records = [rec("FILL", {"order_id": "hope-1", "symbol": SYM, "side": "BUY",
                            "fills": [fill(1, "3", "0.000000333", "0")]})]
    assert hope_balances(records, INITIAL, ASSETS)["BTC"] == Decimal("0.999999")


def test_a_balance_the_fills_do_not_explain_fails():
    """The venue holding less BTC than the audited fills say is a mismatch."""
    _, records, orders, trades = round_trip()
    t = table(books(orders, trades, btc="0.9"), records)
    assert t.balance_mismatch and not t.ok


def test_more_than_one_terminal_order_per_buy_fails():
    """A NEW and a REJECTED for one BUY: two terminal ORDERs."""
    cid, records, orders, trades = round_trip()
    extra = rec("ORDER", {"order_id": cid, "status": "REJECTED", "venue_order_id": None})
    t = table(books(orders, trades), records + [extra])
    assert t.terminal_orders_per_buy == {2: 1} and not t.ok


def test_windows_from_halts_kills_and_reconciliations():
    """HALTED from the start to the resume, from a halt (plus the grace) to its resume; from
    a kill and from a reconciliation's first request to the next passing reconciliation."""
    def at(s: float) -> str:
        return f"2026-12-01T13:00:{s:09.6f}Z"
    base = ts_us(at(0))
    records = [
        rec("CONTROL", {"command": "resume"}, at(10)),
        rec("RECONCILIATION", {"passed": True}, at(9)),
        rec("VENUE_REPLY", {"path": "/sapi/v1/account/apiRestrictions",
                            "wall_ts": (base + 20_000_000) / 1e6}, at(20.1)),
        rec("RECONCILIATION", {"passed": False}, at(21)),
        rec("RECONCILIATION", {"passed": True}, at(23)),
        rec("CONTROL", {"command": "halt"}, at(30)),
        rec("CONTROL", {"command": "resume"}, at(35)),
        rec("RECONCILIATION", {"passed": True}, at(42)),
    ]
    w = forbidden_windows(records, run_start_us=base, kills_us=[base + 40_000_000],
                          halt_grace_s=1.0)
    spans = sorted((x.start_us - base, x.end_us - base, x.why) for x in w)
    assert spans == [(0, 10_000_000, "HALTED"), (20_000_000, 23_000_000, "reconciling"),
                     (31_000_000, 35_000_000, "HALTED"),
                     (40_000_000, 42_000_000, "reconciling after a restart")]


def test_an_order_received_inside_a_window_fails_and_the_table_renders():
    """A venue order received while reconciling is named; the table says FAIL."""
    _, records, orders, trades = round_trip()
    orders[0]["receivedUs"] = 150
    t = table(books(orders, trades), records, windows=[Window(100, 200, "reconciling")])
    assert t.sent_in_windows == [f"{orders[0]['clientOrderId']} while reconciling"]
    text = render(t, [{"step": "reply 503", "ok": True, "detail": "x", "seconds": 1.0}], 5)
    assert "FAIL" in text and "BUYs / exits received while HALTED or reconciling" in text


def test_a_protective_stop_placed_while_reconciling_is_counted_apart():
    """A stop for a BUY the reconciliation resolved may go out at once: counted, allowed."""
    cid, records, orders, trades = round_trip()
    stop = vorder(cid + "-s1", 9, "SELL", received_us=150, executed="0")
    t = table(books(orders + [stop], trades), records, windows=[Window(100, 200, "reconciling")])
    assert t.stops_in_windows == 1 and not t.sent_in_windows and t.ok, t.problems
