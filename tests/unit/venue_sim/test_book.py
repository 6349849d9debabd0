"""The stand-in's books without sockets: filters, clientOrderId rules, MARKET matching with the
paper fill model, liquidity and EXPIRED, balances and fee assets, resting LIMIT and stop
orders, cancels and the testnet reset."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from hope.execution.fill_model import FillModel
from hope.venue_sim.accounts import Accounts
from hope.venue_sim.book import Books
from hope.venue_sim.exchange_info import ExchangeInfo
from hope.venue_sim.market import Market, load_recorded
from hope.venue_sim.matching import MarketModel
from hope.venue_sim.orders import NewOrder, parse_new_order
from hope.venue_sim.rest import ApiError
from hope.venue_sim.testing import ManualClock, steady_trades, write_trades

D = Decimal


def make_books(tmp_path: Path, *, balances: dict | None = None, window_s: float = 60.0,
               commission_asset: str = "quote", partial_fills: int = 1
               ) -> tuple[Books, ManualClock]:
    """Books over 300 steady trades (1 s apart, qty 10+i), the first 100 already published."""
    data = write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(300))
    clock = ManualClock()
    market = Market(load_recorded([data]), skip_s=100, clock=clock)
    info = ExchangeInfo(market, 6000)
    books = Books(market, info, Accounts(balances or {"BTC": "1", "EVX": "1000"}),
                  MarketModel(FillModel(5.0, 10.0), window_s, 1.0),
                  commission_asset=commission_asset, partial_fills=partial_fills, clock=clock)
    return books, clock


def order(**fields: str) -> NewOrder:
    return parse_new_order({"symbol": "EVXBTC", "side": "BUY", "type": "MARKET", **fields})


def refusal(fn, *args) -> tuple[int, str]:  # noqa: ANN001 - a callable and its arguments
    with pytest.raises(ApiError) as info:
        fn(*args)
    return info.value.code, info.value.msg


def balance(books: Books, asset: str) -> tuple[Decimal, Decimal]:
    bal = books.accounts.get("main").balance(asset)
    return bal.free, bal.locked


def test_market_buy_fills_at_the_paper_models_price_and_fee(tmp_path: Path) -> None:
    """A MARKET BUY fills at the last trade + 5 bps with a 10 bps fee in the quote; the
    balances move by exactly the fill."""
    books, _ = make_books(tmp_path)
    tape = books.market.tape("EVXBTC")
    last = D(tape.trades[tape.published(books.clock()) - 1].p)
    o = books.place("main", order(quantity="100", newClientOrderId="hope-1"))
    assert o.status == "FILLED" and o.executed_qty == 100 and len(o.fills) == 1
    fill = o.fills[0]
    assert fill.price == (last * D("1.0005")).quantize(D("1e-8"), rounding="ROUND_UP")
    assert fill.commission == (fill.quote_qty * D("0.001")).quantize(D("1e-8"))
    assert fill.commission_asset == "BTC" and fill.id == 1 and not fill.is_maker
    assert balance(books, "BTC") == (1 - fill.quote_qty - fill.commission, 0)
    assert balance(books, "EVX") == (1100, 0)


def test_quote_order_qty_and_base_commission(tmp_path: Path) -> None:
    """quoteOrderQty buys what the quote pays for, on the lot step; with fees in the asset
    received a BUY holds the quantity less the fee, a SELL pays in the quote."""
    books, _ = make_books(tmp_path, commission_asset="base")
    o = books.place("main", order(quoteOrderQty="0.001"))
    fill = o.fills[0]
    assert fill.qty == fill.qty.to_integral_value() and fill.quote_qty <= D("0.001")
    assert fill.commission_asset == "EVX" and fill.commission == (fill.qty * D("0.001")
                                                                  ).quantize(D("1e-8"))
    assert balance(books, "EVX")[0] == 1000 + fill.qty - fill.commission
    sell = books.place("main", order(side="SELL", quantity="50"))
    assert sell.fills[0].commission_asset == "BTC"


def test_insufficient_balance_books_nothing(tmp_path: Path) -> None:
    """A BUY the quote cannot pay for, or a SELL of more than is held: -2010, no order."""
    books, _ = make_books(tmp_path, balances={"BTC": "0.0001"})
    assert refusal(books.place, "main", order(quantity="1000")) == (
        -2010, "Account has insufficient balance for requested action.")
    assert refusal(books.place, "main", order(side="SELL", quantity="10"))[0] == -2010
    assert books.orders == [] and balance(books, "BTC") == (D("0.0001"), 0)


def test_insufficient_liquidity_expires_the_rest(tmp_path: Path) -> None:
    """A MARKET order larger than the window's volume fills that volume and is EXPIRED; the
    unspent quote is unlocked."""
    books, clock = make_books(tmp_path, window_s=10)
    tape = books.market.tape("EVXBTC")
    n = tape.published(clock())                 # trades 10 market seconds back, both ends in
    volume = sum(D(t.q) for t in tape.trades[n - 11:n])
    o = books.place("main", order(quantity="5000"))
    assert o.status == "EXPIRED" and o.expiry_reason == "INSUFFICIENT_LIQUIDITY"
    assert o.executed_qty == volume and balance(books, "BTC")[1] == 0


def test_filters_name_the_failure(tmp_path: Path) -> None:
    """Off-step quantity, off-tick price and too small a notional: -1013 naming the filter."""
    books, _ = make_books(tmp_path)
    assert refusal(books.place, "main", order(quantity="1.5")) == (
        -1013, "Filter failure: LOT_SIZE")
    limit = {"type": "LIMIT", "timeInForce": "GTC", "quantity": "100"}
    assert refusal(books.place, "main", order(**limit, price="0.000010001")) == (
        -1013, "Filter failure: PRICE_FILTER")
    assert refusal(books.place, "main", order(quantity="1")) == (-1013,
                                                                 "Filter failure: NOTIONAL")
    assert refusal(books.place, "main", order(quoteOrderQty="0.00001"))[1] == (
        "Filter failure: NOTIONAL")
    assert books.orders == []


def test_parameter_refusals() -> None:
    """Bad or missing parameters get the venue's codes before anything is checked."""
    cases = [({"side": "HOLD"}, -1117), ({"type": "ICEBERG"}, -1116),
             ({"newClientOrderId": "has space"}, -1100), ({"newClientOrderId": "x" * 37}, -1100),
             ({}, -1102), ({"quantity": "1", "quoteOrderQty": "1"}, -1106),
             ({"quantity": "1", "price": "1"}, -1106), ({"quantity": "1e5"}, -1100),
             ({"type": "LIMIT", "quantity": "1", "price": "1"}, -1102),
             ({"type": "LIMIT", "quantity": "1", "price": "1", "timeInForce": "DAY"}, -1115)]
    for fields, code in cases:
        assert refusal(lambda f=fields: order(**f))[0] == code, fields
    assert order(quantity="1", newClientOrderId="a.B:c/d_e-f9").client_order_id == "a.B:c/d_e-f9"
    assert len(order(quantity="1").client_order_id) == 22


def test_client_order_id_unique_among_open_orders_only(tmp_path: Path) -> None:
    """An id in use by an OPEN order is "Duplicate order sent."; once that order is done the
    id is accepted again, and a query by it answers the latest order."""
    books, _ = make_books(tmp_path)
    resting = order(type="LIMIT", timeInForce="GTC", quantity="100", price="0.00000900",
                    newClientOrderId="same")
    first = books.place("main", resting)
    assert first.status == "NEW"
    assert refusal(books.place, "main", order(quantity="100", newClientOrderId="same")) == (
        -2010, "Duplicate order sent.")
    books.cancel("main", "EVXBTC", None, "same")
    filled = books.place("main", order(quantity="100", newClientOrderId="same"))
    again = books.place("main", order(quantity="100", newClientOrderId="same"))
    assert filled.status == again.status == "FILLED" and filled.order_id != again.order_id
    assert books.find("main", "EVXBTC", None, "same") is again
    assert books.find("main", "EVXBTC", filled.order_id, None) is filled
    assert refusal(books.find, "main", "EVXBTC", 999, None) == (-2013, "Order does not exist.")
    assert refusal(books.find, "other", "EVXBTC", again.order_id, None)[0] == -2013


def test_resting_limit_fills_when_the_market_reaches_it(tmp_path: Path) -> None:
    """A SELL LIMIT above the market rests with its base locked and fills as maker, at its
    price, once a published trade reaches it; a cancel of a filled order is -2011."""
    books, clock = make_books(tmp_path)
    price = D(books.market.tape("EVXBTC").trades[150].p)
    o = books.place("main", order(side="SELL", type="LIMIT", timeInForce="GTC",
                                  quantity="100", price=f"{price:f}"))
    assert o.status == "NEW" and balance(books, "EVX") == (900, 100)
    assert books.advance() == 0
    clock.advance(60)
    assert books.advance() == 1
    assert o.status == "FILLED" and o.fills[0].is_maker and o.fills[0].price == price
    assert balance(books, "EVX") == (900, 0)
    assert refusal(books.cancel, "main", "EVXBTC", o.order_id, None) == (
        -2011, "Unknown order sent.")


def test_cancel_unlocks_and_ioc_expires(tmp_path: Path) -> None:
    """A cancelled BUY LIMIT gives its locked quote back; an IOC that cannot fill EXPIRES."""
    books, _ = make_books(tmp_path)
    o = books.place("main", order(type="LIMIT", timeInForce="GTC", quantity="100",
                                  price="0.00000900"))
    assert balance(books, "BTC")[1] > 0
    books.cancel("main", "EVXBTC", o.order_id, None)
    assert o.status == "CANCELED" and balance(books, "BTC") == (1, 0)
    ioc = books.place("main", order(type="LIMIT", timeInForce="IOC", quantity="100",
                                    price="0.00000900"))
    assert ioc.status == "EXPIRED" and ioc.executed_qty == 0


def test_stop_loss_limit_triggers_then_fills(tmp_path: Path) -> None:
    """A BUY STOP_LOSS_LIMIT waits (not working) until a trade reaches its stop, then fills at
    its limit; a stop that would trigger at once is refused."""
    books, clock = make_books(tmp_path)
    tape = books.market.tape("EVXBTC")
    stop = D(tape.trades[130].p)
    o = books.place("main", order(type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="100",
                                  price=f"{stop + D('0.00000005'):f}", stopPrice=f"{stop:f}"))
    assert o.status == "NEW" and not o.working
    clock.advance(60)
    books.advance()
    assert o.status == "FILLED" and o.working
    assert refusal(books.place, "main", order(
        type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="100", price="0.00000900",
        stopPrice="0.00000900")) == (-2010, "Order would trigger immediately.")


def test_partial_fills_and_reset_keep_ids_unique(tmp_path: Path) -> None:
    """partial_fills splits a taker order into fills with their own trade ids; a reset wipes
    books and balances but never hands an id out twice."""
    books, _ = make_books(tmp_path, partial_fills=3)
    o = books.place("main", order(quantity="100"))
    assert [t.id for t in o.fills] == [1, 2, 3] and sum(t.qty for t in o.fills) == 100
    books.wipe()
    assert books.orders == [] and books.trades == [] and balance(books, "EVX") == (1000, 0)
    again = books.place("main", order(quantity="100"))
    assert again.order_id == 2 and again.fills[0].id == 4


def falling_books(tmp_path: Path, prices: list[float]) -> tuple[Books, ManualClock]:
    """Books over trades 1 s apart at ``prices`` (qty 100), the first 10 already published."""
    rows = [(1_600_000_000.0 + i, p, 100.0, i % 2 == 0) for i, p in enumerate(prices)]
    data = write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", rows)
    clock = ManualClock()
    market = Market(load_recorded([data]), skip_s=9, clock=clock)
    books = Books(market, ExchangeInfo(market, 6000), Accounts({"BTC": "1", "EVX": "1000"}),
                  MarketModel(FillModel(5.0, 10.0), 0, 1.0), clock=clock)
    return books, clock


def test_protective_sell_stop_takes_when_the_market_falls_through(tmp_path: Path) -> None:
    """A SELL STOP_LOSS_LIMIT below the market locks the base; when a trade reaches the stop it
    sells at once at that trade's price less slippage (not below its limit)."""
    books, clock = falling_books(tmp_path, [0.00001000] * 10 + [0.00000990, 0.00000950])
    stop = books.place("main", order(side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
                                     quantity="500", stopPrice="0.00000960",
                                     price="0.00000940"))
    assert not stop.working and balance(books, "EVX") == (500, 500)
    clock.advance(1)
    books.advance()
    assert stop.status == "NEW"
    clock.advance(1)
    books.advance()
    fill = stop.fills[0]
    assert stop.status == "FILLED" and not fill.is_maker
    assert fill.price == (D("0.00000950") * D("0.9995")).quantize(D("1e-8"),
                                                                  rounding="ROUND_DOWN")
    assert balance(books, "EVX") == (500, 0)
    assert balance(books, "BTC")[0] == 1 + fill.quote_qty - fill.commission


def test_a_closed_market_trades_no_stop(tmp_path: Path) -> None:
    """After the market closes, a fall that would have reached the stop is never published:
    the stop stays NEW with the base locked, whatever the clock says."""
    books, clock = falling_books(tmp_path, [0.00001000] * 10 + [0.00000990, 0.00000950])
    stop = books.place("main", order(side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
                                     quantity="500", stopPrice="0.00000960",
                                     price="0.00000940"))
    books.market.close()
    clock.advance(5)
    books.advance()
    assert stop.status == "NEW" and not stop.fills and balance(books, "EVX") == (500, 500)


def test_stop_gapped_through_its_limit_rests(tmp_path: Path) -> None:
    """A gap below the SELL stop's limit triggers it but cannot fill it: it rests as a working
    LIMIT (the documented risk of a stop-limit) until the market comes back."""
    books, clock = falling_books(tmp_path, [0.00001000] * 10 + [0.00000900, 0.00000945])
    stop = books.place("main", order(side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
                                     quantity="500", stopPrice="0.00000960",
                                     price="0.00000940"))
    clock.advance(1)
    books.advance()
    assert (stop.status, stop.working, stop.fills) == ("NEW", True, [])
    clock.advance(1)
    books.advance()
    assert stop.status == "FILLED" and stop.fills[0].price == D("0.00000940")
    assert stop.fills[0].is_maker
