"""PaperExchange: fills at market ± slippage, venue-style fees, a book on disk, injected faults."""

from __future__ import annotations

import pytest

from hope.execution.exchange import (
    ExchangeError,
    ExchangeTimeout,
    OrderRejected,
    PaperExchange,
)


def ex(tmp_path, **kw) -> PaperExchange:
    e = PaperExchange(tmp_path / "exchange", **kw)
    e.set_price("EVXBTC", 1e-5, 1000.0)
    return e


def test_buy_fills_with_slippage_and_quote_commission(tmp_path):
    """A BUY fills at price*(1+slippage); the taker fee is on notional, in the quote."""
    e = ex(tmp_path, slippage_bps=10, commission_bps=10)
    o = e.place_order("c1", "EVXBTC", "BUY", quote_amount=0.001)
    assert o.avg_price == pytest.approx(1e-5 * 1.001)
    assert o.quantity * o.avg_price == pytest.approx(0.001)
    assert o.commission == pytest.approx(0.001 * 0.001)
    assert o.commission_asset == "BTC" and o.market_ts == 1000.0 and o.status == "FILLED"


def test_sell_fills_below_price(tmp_path):
    """A SELL fills at price*(1-slippage) for the given quantity."""
    o = ex(tmp_path, slippage_bps=10).place_order("c2", "EVXBTC", "SELL", quantity=50.0)
    assert o.avg_price == pytest.approx(1e-5 * 0.999) and o.quantity == 50.0


def test_book_survives_restart_and_dedupes_client_id(tmp_path):
    """The book is on disk: a new instance knows the order; the same client id never fills twice."""
    first = ex(tmp_path).place_order("c1", "EVXBTC", "BUY", quote_amount=0.001)
    again = ex(tmp_path)
    assert again.get_order("c1") == first
    assert again.place_order("c1", "EVXBTC", "BUY", quote_amount=0.5) == first
    assert len(again.orders()) == 1


def test_corrupt_book_line_is_skipped_and_reported(tmp_path):
    """A torn line in the book is skipped with file:line; the other orders load."""
    ex(tmp_path).place_order("c1", "EVXBTC", "BUY", quote_amount=0.001)
    with open(tmp_path / "exchange" / "orders.jsonl", "a") as fh:
        fh.write('{"client_id": "c2", "sym')
    e = ex(tmp_path)
    assert e.get_order("c1") is not None
    assert len(e.bad_lines) == 1 and "orders.jsonl:2:" in e.bad_lines[0]


def test_rejections(tmp_path):
    """No price, unknown quote or a zero amount are refused as OrderRejected."""
    e = ex(tmp_path)
    with pytest.raises(OrderRejected, match="no market price"):
        e.place_order("c1", "GVTBTC", "BUY", quote_amount=0.001)
    with pytest.raises(OrderRejected, match="quote"):
        e.place_order("c2", "FOOBAR", "BUY", quote_amount=0.001)
    with pytest.raises(OrderRejected):
        e.place_order("c3", "EVXBTC", "BUY", quote_amount=0.0)
    assert e.orders() == []


def test_injected_failures(tmp_path):
    """fail_next / timeout_next raise without booking; timeout_after_place books then raises."""
    e = ex(tmp_path)
    e.fail_next()
    with pytest.raises(ExchangeError):
        e.place_order("c1", "EVXBTC", "BUY", quote_amount=0.001)
    e.timeout_next()
    with pytest.raises(ExchangeTimeout):
        e.get_order("c1")
    assert e.orders() == []
    e.timeout_after_place_next()
    with pytest.raises(ExchangeTimeout):
        e.place_order("c1", "EVXBTC", "BUY", quote_amount=0.001)
    assert e.get_order("c1") is not None


def test_torn_tail_is_cut_quarantined_and_next_order_lands_clean(tmp_path):
    """After a torn last line, the next order starts a clean line: a restart sees both, no errors."""
    ex(tmp_path).place_order("c1", "EVXBTC", "BUY", quote_amount=0.001)
    with open(tmp_path / "exchange" / "orders.jsonl", "a") as fh:
        fh.write('{"client_id": "c2", "sym')
    e = PaperExchange(tmp_path / "exchange", quarantine_dir=tmp_path / "q")
    e.set_price("EVXBTC", 1e-5, 1000.0)
    e.place_order("c3", "EVXBTC", "BUY", quote_amount=0.001)
    assert (tmp_path / "q" / "exchange-book.bin").exists()
    again = ex(tmp_path)
    assert again.bad_lines == [] and {o.client_id for o in again.orders()} == {"c1", "c3"}


def test_book_is_group_committed(tmp_path):
    """An order is on disk (readable by a new instance) without an fsync; sync() commits it."""
    e = ex(tmp_path, fsync_interval_s=60)
    e.place_order("c1", "EVXBTC", "BUY", quote_amount=0.001)
    assert e.dirty and ex(tmp_path).get_order("c1") is not None
    assert e.sync() is True and not e.dirty
    e.close()
