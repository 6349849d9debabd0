"""The account feed: stream events and gap recoveries into the fill book, each new fill handed
on once and settled only after it was acted on."""

from __future__ import annotations

import asyncio

import pytest

from hope.venue.account import AccountFeed
from hope.venue.fills import FillBook
from tests.unit.venue.frames import MY_TRADES_ROW, OPEN_ORDER, execution_report_trade

NOW_MS = 1499865600000


def trade(tid: int) -> dict:
    return execution_report_trade(trade_id=tid, last_qty="1", cum_qty=str(tid),
                                  price="0.1")["event"]


class Venue:
    """/myTrades and /openOrders over lists; ``fail`` makes the next calls raise."""

    def __init__(self, trades=(), open_orders=()):
        self.trades, self.open, self.fail = list(trades), list(open_orders), 0

    async def my_trades(self, params):
        if self.fail:
            self.fail -= 1
            raise OSError("connection reset")
        rows = [t for t in self.trades if t["symbol"] == params["symbol"]]
        return [t for t in rows if t["id"] >= params.get("fromId", 0)]

    async def open_orders(self):
        return list(self.open)


def feed(tmp_path, venue=None, **kw):
    venue = venue or Venue()
    got, updates, opened = [], [], []

    async def on_fills(fills):
        got.append([f.trade_id for f in fills])

    f = AccountFeed(kw.pop("book", None) or FillBook(tmp_path / "fills.jsonl"),
                    fetch_trades=venue.my_trades, fetch_open_orders=venue.open_orders,
                    symbols=lambda: ["ETHBTC"], on_fills=on_fills, now_ms=lambda: NOW_MS,
                    on_order_update=updates.append, on_open_orders=opened.append, **kw)
    return f, got, updates, opened


async def test_a_stream_trade_is_handed_on_once_and_then_settled(tmp_path):
    """The same TRADE report twice: one delivery; the report also reaches on_order_update."""
    f, got, updates, _ = feed(tmp_path)
    f.on_event(trade(5))
    f.on_event(trade(5))
    assert f.queue.qsize() == 1 and len(updates) == 2
    await f.deliver_once()
    assert got == [[5]] and f.book.unsettled() == []


async def test_a_gap_is_closed_by_my_trades_and_open_orders(tmp_path):
    """After a reconnect the missed trade is found by /myTrades and delivered; the venue's
    open orders go to on_open_orders; the gap closes."""
    missed = {**MY_TRADES_ROW, "symbol": "ETHBTC", "id": 6, "orderId": 4293153}
    f, got, _, opened = feed(tmp_path, Venue([missed], [OPEN_ORDER]))
    f.on_event(trade(5))
    f.on_gap("resubscribed after a reconnect")
    assert f.gap.is_set()
    assert await f.recover_once() is True
    await f.deliver_once()
    await f.deliver_once()
    assert got == [[5], [6]] and opened == [[OPEN_ORDER]]
    assert not f.book.gap_pending


async def test_a_failed_recovery_keeps_the_gap_and_the_next_one_closes_it(tmp_path):
    """REST down during the recovery: the gap stays open (retried), nothing is delivered."""
    venue = Venue([{**MY_TRADES_ROW, "symbol": "ETHBTC", "id": 1}])
    venue.fail = 1
    f, got, _, _ = feed(tmp_path, venue)
    f.on_gap("subscribed")
    assert await f.recover_once() is False and f.book.gap_pending
    assert f.recovery_failures == 1
    assert await f.recover_once() is True and not f.book.gap_pending
    await f.deliver_once()
    assert got == [[1]]


async def test_fills_not_acted_on_before_a_crash_are_handed_on_at_the_next_start(tmp_path):
    """on_fills failing (the process dies there) leaves the fill unsettled: delivered again."""
    book = FillBook(tmp_path / "fills.jsonl")
    f, _, _, _ = feed(tmp_path, book=book)

    async def crash(fills):
        raise RuntimeError("killed before the FILL was published")

    f.on_fills = crash
    f.on_event(trade(9))
    with pytest.raises(RuntimeError):
        await f.deliver_once()
    book.close()
    again, got, _, _ = feed(tmp_path, book=FillBook(tmp_path / "fills.jsonl"))
    await again.deliver_once()
    assert got == [[9]] and again.book.unsettled() == []


async def test_run_recovers_the_first_gap_and_delivers_until_cancelled(tmp_path):
    """run(): the start's gap is recovered, stream fills delivered, cancellation ends it all."""
    done = asyncio.Event()
    f, got, _, _ = feed(tmp_path, Venue([{**MY_TRADES_ROW, "symbol": "ETHBTC", "id": 1}]))
    inner = f.on_fills

    async def on_fills(fills):
        await inner(fills)
        if len(got) == 2:
            done.set()

    f.on_fills = on_fills

    async def stream():
        f.on_gap("subscribed")
        f.on_event(trade(2))
        await asyncio.Event().wait()   # a stream runs until cancelled

    task = asyncio.ensure_future(f.run(stream))
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(sum(got, [])) == [1, 2]
