"""Local pre-checks against exchangeInfo filters: Decimal, rounded down, named refusals."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hope.venue.filters import FilterRefusal, SymbolRules, decimal_text, round_down

INFO = {
    "symbol": "EVXBTC", "status": "TRADING", "baseAsset": "EVX", "quoteAsset": "BTC",
    "baseAssetPrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
    "quoteOrderQtyMarketAllowed": True,
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000.00000000",
         "tickSize": "0.00000001"},
        {"filterType": "LOT_SIZE", "minQty": "1.00000000", "maxQty": "90000000.00000000",
         "stepSize": "1.00000000"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100000.00000000",
         "stepSize": "0.00000000"},
        {"filterType": "NOTIONAL", "minNotional": "0.00010000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
    ],
}
RULES = SymbolRules.from_symbol_info(INFO)
PRICE = D("0.00001234")


def test_round_down_never_rounds_up() -> None:
    """Rounding to the step goes down, exactly, in Decimal."""
    assert round_down(D("12.999"), D("1")) == D("12")
    assert round_down(D("0.123456789"), D("0.00001")) == D("0.12345")
    assert decimal_text(D("12.3400000")) == "12.34" and decimal_text(D("100")) == "100"


def test_buy_spends_quote_rounded_to_its_precision() -> None:
    """A MARKET BUY sends quoteOrderQty rounded down to the quote precision."""
    assert RULES.market_buy(D("0.001000009"), PRICE) == D("0.00100000")


def test_buy_below_min_notional_names_the_filter() -> None:
    """A BUY spending less than minNotional is refused naming NOTIONAL."""
    with pytest.raises(FilterRefusal) as err:
        RULES.market_buy(D("0.00005"), PRICE)
    assert err.value.filter == "NOTIONAL"


def test_buy_whose_quantity_is_below_the_lot_is_refused_naming_lot_size() -> None:
    """The estimated quantity must reach LOT_SIZE minQty."""
    rules = SymbolRules.from_symbol_info({**INFO, "filters": [
        {"filterType": "LOT_SIZE", "minQty": "100", "maxQty": "1000", "stepSize": "1"}]})
    with pytest.raises(FilterRefusal) as err:
        rules.market_buy(D("0.0001"), PRICE)   # ~8 EVX
    assert err.value.filter == "LOT_SIZE"


def test_buy_above_market_max_qty_names_market_lot_size() -> None:
    """MARKET_LOT_SIZE maxQty bounds a MARKET order."""
    with pytest.raises(FilterRefusal) as err:
        RULES.market_buy(D("5"), PRICE)   # ~405,000 EVX
    assert err.value.filter == "MARKET_LOT_SIZE"


def test_sell_rounds_the_net_quantity_down_to_the_step() -> None:
    """A SELL of 81.0379 EVX (after a base-asset fee) sells 81."""
    assert RULES.market_sell(D("81.0379"), PRICE) == D("81")


def test_sell_below_min_notional_is_refused() -> None:
    """A SELL worth less than minNotional names NOTIONAL (nothing sent)."""
    with pytest.raises(FilterRefusal) as err:
        RULES.market_sell(D("5"), PRICE)
    assert err.value.filter == "NOTIONAL"


def test_symbol_not_trading_or_without_price_is_refused() -> None:
    """A symbol in BREAK names status; no price names PRICE_FILTER."""
    with pytest.raises(FilterRefusal) as err:
        SymbolRules.from_symbol_info({**INFO, "status": "BREAK"}).market_buy(D("0.001"), PRICE)
    assert err.value.filter == "status"
    with pytest.raises(FilterRefusal) as err:
        RULES.market_buy(D("0.001"), D(0))
    assert err.value.filter == "PRICE_FILTER"


def test_legacy_min_notional_filter_is_read() -> None:
    """MIN_NOTIONAL (older symbols) is applied to MARKET orders and named."""
    rules = SymbolRules.from_symbol_info({**INFO, "filters": [
        {"filterType": "MIN_NOTIONAL", "minNotional": "0.001", "applyToMarket": True,
         "avgPriceMins": 5}]})
    with pytest.raises(FilterRefusal) as err:
        rules.market_buy(D("0.0005"), PRICE)
    assert err.value.filter == "MIN_NOTIONAL"
