"""Numbers on the dashboard are formatted for their quantity (hope.numbers)."""

from __future__ import annotations

import math

import pytest

from hope import numbers as fmt


@pytest.mark.parametrize(("value", "text"), [
    (0.0000152, "0.0000152"), (0.00123456789, "0.001235"), (1234.5, "1,234"),
    (1234567, "1,234,567"), (9.99996, "10"), (0, "0"), (-0.00012, "-0.00012"),
    (0.00000001, "0.00000001"), (1.0, "1")])
def test_sig_keeps_significant_digits_without_exponent(value, text):
    """sig() rounds to significant digits in positional notation and never cuts an integer."""
    assert fmt.sig(value) == text


def test_a_btc_size_is_never_zero_point_zero_zero():
    """A BUY of 0.0012 BTC reads 0.0012, not 0.00 (two-decimal rounding)."""
    assert fmt.size(0.0012) == "0.0012"
    assert fmt.size(0.000012345678) == "0.000012346"
    assert fmt.price(0.00001523) == "0.00001523"


def test_money_has_sign_and_currency():
    """P&L carries its sign and its quote currency."""
    assert fmt.money(0.0000123, "BTC") == "+0.0000123 BTC"
    assert fmt.money(-1.23456, "USDT") == "-1.2346 USDT"
    assert fmt.money(0, "BTC") == "0 BTC"


@pytest.mark.parametrize("bad", [None, "x", math.nan, math.inf, True])
def test_non_numbers_read_as_a_dash(bad):
    """Missing or non-finite values never crash a page: they read as a dash."""
    assert fmt.sig(bad) == fmt.DASH
    assert fmt.money(bad, "BTC") == fmt.DASH
    assert fmt.duration(bad) == fmt.DASH


def test_durations_rates_and_percentages():
    """Durations pick their unit; rates and ratios read naturally."""
    assert fmt.duration(0.00085) == "850 µs"
    assert fmt.duration(0.0042) == "4.2 ms"
    assert fmt.duration(3.5) == "3.5 s"
    assert fmt.duration(600) == "10 min"
    assert fmt.rate(0.25) == "0.25/s"
    assert fmt.rate(1250) == "1,250/s"
    assert fmt.pct(0.25) == "25.0%"
