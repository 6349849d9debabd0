"""The fill book: one record per (symbol, tradeId) from the three paths, persistent, the gap rule."""

from __future__ import annotations

import copy

import pytest

from hope.venue.fills import (
    MY_TRADES_LIMIT,
    FillBook,
    FillFormatError,
    fill_from_execution_report,
    fills_from_order_reply,
)
from tests.unit.venue.frames import (
    EXECUTION_REPORT_NEW,
    MY_TRADES_ROW,
    OPEN_ORDER,
    ORDER_REPLY_FULL,
    execution_report_trade,
)

NOW_MS = 1499865600000


def book(tmp_path, **kw):
    return FillBook(tmp_path / "venue" / "fills.jsonl", fsync_interval_s=0, **kw)


def my_trades_of_reply(reply):
    """The /myTrades rows the venue would list for the trades of a FULL reply."""
    return [{**MY_TRADES_ROW, "symbol": reply["symbol"], "id": f["tradeId"],
             "orderId": reply["orderId"], "price": f["price"], "qty": f["qty"],
             "commission": f["commission"], "commissionAsset": f["commissionAsset"],
             "isBuyer": reply["side"] == "BUY"} for f in reply["fills"]]


def stream_reports_of_reply(reply):
    """The executionReport TRADE events the stream would push for the same trades."""
    out, cum = [], 0.0
    for f in reply["fills"]:
        cum += float(f["qty"])
        frame = execution_report_trade(trade_id=f["tradeId"], last_qty=f["qty"],
                                       cum_qty=f"{cum:.8f}", price=f["price"])
        frame["event"].update({"s": reply["symbol"], "i": reply["orderId"],
                               "c": reply["clientOrderId"], "S": reply["side"]})
        out.append(frame["event"])
    return out


def test_full_reply_fills_parse_with_the_trade_ids_and_amounts_as_text():
    """The documented FULL reply gives five fills keyed by tradeId, decimals kept exactly."""
    fills = fills_from_order_reply(ORDER_REPLY_FULL)
    assert [f.trade_id for f in fills] == [56, 57, 58, 59, 60]
    assert fills[1].qty == "5.00000000" and fills[1].commission == "19.99500000"
    assert {f.client_id for f in fills} == {"6gCrw2kRUAF9CvJDGP16IP"}
    assert {(f.side, f.source, f.order_id) for f in fills} == {("SELL", "order", 28)}


def test_execution_report_new_is_no_fill_and_trade_is_one():
    """Only x == TRADE carries a fill; its fields t, i, c, l, L, n, N map onto the fill."""
    assert fill_from_execution_report(EXECUTION_REPORT_NEW["event"]) is None
    ev = execution_report_trade(trade_id=77, last_qty="0.5", cum_qty="0.5",
                                price="0.10264410")["event"]
    fill = fill_from_execution_report(ev)
    assert fill is not None
    assert (fill.symbol, fill.trade_id, fill.order_id, fill.client_id) == (
        "ETHBTC", 77, 4293153, "mUvoqJxFIILMdfAW5iGSOW")
    assert (fill.qty, fill.price, fill.commission, fill.commission_asset) == (
        "0.5", "0.10264410", "0.00100000", "ETH")


def test_each_trade_counts_once_whichever_path_reports_it_first(tmp_path):
    """FULL reply, stream and /myTrades report the same five trades: five fills, once each."""
    b = book(tmp_path)
    new = []
    for ev in stream_reports_of_reply(ORDER_REPLY_FULL)[:2]:      # the stream is first for two
        new += b.add_execution_report(ev)
    new += b.add_order_reply(ORDER_REPLY_FULL)                      # then the reply: three new
    for ev in stream_reports_of_reply(ORDER_REPLY_FULL)[2:]:
        new += b.add_execution_report(ev)
    new += b.add_my_trades(my_trades_of_reply(ORDER_REPLY_FULL))
    assert sorted(f.trade_id for f in new) == [56, 57, 58, 59, 60]
    assert [f.source for f in new] == ["stream", "stream", "order", "order", "order"]
    assert b.duplicates == 2 + 3 + 5
    assert [f.trade_id for f in b.fills_of("6gCrw2kRUAF9CvJDGP16IP")] == [56, 57, 58, 59, 60]


def test_my_trades_rows_get_the_client_id_learnt_from_another_path(tmp_path):
    """/myTrades names only the orderId; the book maps it to HOPE's client id it has seen."""
    b = book(tmp_path)
    b.learn_order("BNBBTC", 100234, "hope-abc")
    [fill] = b.add_my_trades([MY_TRADES_ROW])
    assert fill.client_id == "hope-abc" and fill.side == "BUY" and fill.source == "poll"
    other = {**MY_TRADES_ROW, "id": 28458, "orderId": 999}
    [stranger] = b.add_my_trades([other])
    assert stranger.client_id is None   # an order HOPE never placed: reconciliation reports it


def test_the_book_survives_a_restart_with_unsettled_fills_listed(tmp_path):
    """After a restart, known fills stay known and those not yet acted on are listed again."""
    b = book(tmp_path)
    new = b.add_order_reply(ORDER_REPLY_FULL)
    b.settle(new[:3])
    b.close()
    again = book(tmp_path)
    assert again.add_order_reply(ORDER_REPLY_FULL) == []
    assert [f.trade_id for f in again.unsettled()] == [59, 60]
    assert again.last_trade_id("BTCUSDT") == 60
    again.settle(again.unsettled())
    again.close()
    assert book(tmp_path).unsettled() == []


def test_a_torn_last_line_is_quarantined_and_the_rest_kept(tmp_path):
    """A half-written last record is cut off and kept as evidence; earlier fills survive."""
    b = book(tmp_path)
    b.add_order_reply(ORDER_REPLY_FULL)
    b.close()
    with open(b.path, "ab") as fh:
        fh.write(b'{"f": {"symbol": "BTCUSDT", "trade_')
    q = tmp_path / "quarantine"
    again = book(tmp_path, quarantine_dir=q)
    assert len(again.fills) == 5
    assert (q / "fills-torn.bin").exists()
    assert again.add_my_trades([{**MY_TRADES_ROW, "id": 1}])   # appends on a clean line
    again.close()
    assert len(book(tmp_path).fills) == 6


def test_a_record_missing_a_field_is_refused_naming_it():
    """A reply fill without tradeId is an error naming the field, never a fill keyed by None."""
    bad = copy.deepcopy(ORDER_REPLY_FULL)
    del bad["fills"][2]["tradeId"]
    with pytest.raises(FillFormatError, match=r"fills\[2\].*tradeId"):
        fills_from_order_reply(bad)


class FakeVenue:
    """/myTrades (fromId / startTime, pages of MY_TRADES_LIMIT) and /openOrders over a list."""

    def __init__(self, trades, open_orders=()):
        self.trades, self.open = trades, list(open_orders)
        self.asked = []

    async def my_trades(self, params):
        self.asked.append(params)
        rows = [t for t in self.trades if t["symbol"] == params["symbol"]]
        if "fromId" in params:
            rows = [t for t in rows if t["id"] >= params["fromId"]]
        if "startTime" in params:
            rows = [t for t in rows if t["time"] >= params["startTime"]]
        return rows[: params.get("limit", 500)]

    async def open_orders(self):
        return list(self.open)


async def test_after_a_gap_my_trades_from_the_last_trade_id_finds_the_missed_fill(tmp_path):
    """A fill made while the stream was down is found by /myTrades from the last known id."""
    b = book(tmp_path)
    b.add_order_reply(ORDER_REPLY_FULL)
    b.mark_gap("reconnect")
    missed = {**MY_TRADES_ROW, "symbol": "BTCUSDT", "id": 61, "orderId": 28}
    venue = FakeVenue(my_trades_of_reply(ORDER_REPLY_FULL) + [missed], [OPEN_ORDER])
    result = await b.recover(venue.my_trades, venue.open_orders, [], now_ms=NOW_MS)
    assert venue.asked == [{"symbol": "BTCUSDT", "fromId": 60, "limit": MY_TRADES_LIMIT}]
    assert [f.trade_id for f in result.new_fills] == [61]
    assert result.new_fills[0].client_id == "6gCrw2kRUAF9CvJDGP16IP"
    assert result.open_orders == [OPEN_ORDER] and not b.gap_pending
    assert b.client_of("LTCBTC", 1) == "myOrder1"


async def test_a_symbol_without_a_known_trade_is_asked_by_start_time_and_pages_followed(tmp_path):
    """No trade id known: startTime before the gap; a full page is followed by fromId."""
    b = book(tmp_path)
    b.mark_gap("first subscription", since_ms=NOW_MS - 5000)
    rows = [{**MY_TRADES_ROW, "id": 1000 + i, "time": NOW_MS - 1000} for i in range(1500)]
    venue = FakeVenue(rows)
    result = await b.recover(venue.my_trades, venue.open_orders, ["BNBBTC"], now_ms=NOW_MS)
    assert len(result.new_fills) == 1500
    assert venue.asked[0] == {"symbol": "BNBBTC", "startTime": NOW_MS - 65000,
                              "limit": MY_TRADES_LIMIT}
    assert venue.asked[1] == {"symbol": "BNBBTC", "fromId": 2000, "limit": MY_TRADES_LIMIT}


async def test_a_failed_recovery_leaves_the_gap_pending(tmp_path):
    """If /openOrders fails, the gap is still pending and the next recovery asks again."""
    b = book(tmp_path)
    b.mark_gap("reconnect")

    async def down():
        raise OSError("reset")

    with pytest.raises(OSError):
        await b.recover(FakeVenue([]).my_trades, down, ["BNBBTC"], now_ms=NOW_MS)
    assert b.gap_pending and b.gap_reason == "reconnect"
    assert b.snapshot()["gap"] == "reconnect"


def test_compaction_keeps_what_matters_and_an_old_trade_stays_known(tmp_path):
    """Old settled fills are forgotten, unsettled and recent ones kept, the last trade id kept;
    a path reporting a forgotten trade again is still not a new fill, also after a restart."""
    day = 86400 * 1000
    b = book(tmp_path, retention_ms=day, compact_every=1_000_000)
    old = b.add_order_reply({**ORDER_REPLY_FULL, "transactTime": NOW_MS - 3 * day})
    b.settle(old[:4])                       # 60 stays unsettled
    recent = b.add_my_trades([{**MY_TRADES_ROW, "id": 70, "time": NOW_MS}])
    b.settle(recent)
    b.compact(now_ms=NOW_MS)
    assert sorted(k[1] for k in b.fills) == [60, 70]
    assert b.last_trade_id("BTCUSDT") == 60 and b.dropped_floor == {"BTCUSDT": 59}
    b.close()
    again = book(tmp_path, retention_ms=day)
    assert again.add_order_reply(ORDER_REPLY_FULL) == [] and again.too_old == 4
    assert [f.trade_id for f in again.unsettled()] == [60]
    assert again.client_of("BTCUSDT", 28) == "6gCrw2kRUAF9CvJDGP16IP"


def test_compaction_runs_by_itself_every_compact_every_lines(tmp_path):
    """Past compact_every lines the journal is rewritten, and not again until as many more."""
    b = book(tmp_path, compact_every=8)
    b.settle(b.add_order_reply(ORDER_REPLY_FULL))   # 1 client id + 5 fills + 5 settles
    assert b.compactions == 1
    size = b.path.stat().st_size
    b.add_my_trades([{**MY_TRADES_ROW, "id": 1}])
    assert b.compactions == 1 and b.path.stat().st_size > size


async def test_a_gap_asks_only_the_executors_symbols_and_those_traded_in_the_last_day(tmp_path):
    """A symbol last traded a week ago costs no /myTrades weight after a gap."""
    b = book(tmp_path)
    b.add_my_trades([{**MY_TRADES_ROW, "time": NOW_MS - 7 * 86400 * 1000}])   # BNBBTC, old
    b.add_order_reply({**ORDER_REPLY_FULL, "transactTime": NOW_MS - 1000})     # BTCUSDT
    b.mark_gap("reconnect")
    venue = FakeVenue([])
    await b.recover(venue.my_trades, venue.open_orders, ["ETHBTC"], now_ms=NOW_MS)
    assert [q["symbol"] for q in venue.asked] == ["BTCUSDT", "ETHBTC"]
