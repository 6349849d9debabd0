"""Moonbot: external payloads become SIGNAL payloads or are refused naming the field."""

from __future__ import annotations

import pytest

from hope.envelope import validate_payload
from hope.strategies.moonbot import ExternalSignalError, MoonbotStrategy


def test_valid_external_payload_becomes_a_signal() -> None:
    """Symbol loses its slash, optional numbers default to 0, extra scalar detail is kept."""
    m = MoonbotStrategy()
    (sig,) = m.on_external({"symbol": "evx/btc", "price": 1.3e-5, "market_ts": 1610226000.5,
                            "delta_pct": 12.5, "note": "moonshot", "nested": {"x": 1}})
    assert sig["symbol"] == "EVXBTC" and sig["strategy"] == "moonbot"
    assert sig["delta_pct"] == 12.5 and sig["buys_per_sec"] == 0.0 and sig["note"] == "moonshot"
    assert "nested" not in sig
    validate_payload("SIGNAL", sig)
    assert m.accepted == 1


@pytest.mark.parametrize(("payload", "field"), [
    ({"price": 1.0, "market_ts": 1.0}, "symbol"),
    ({"symbol": "X", "market_ts": 1.0}, "price"),
    ({"symbol": "X", "price": -1.0, "market_ts": 1.0}, "price"),
    ({"symbol": "X", "price": 1.0, "market_ts": "soon"}, "market_ts"),
    ({"symbol": "X", "price": 1.0, "market_ts": 1.0, "delta_pct": float("nan")}, "delta_pct"),
    ({"symbol": "X", "price": True, "market_ts": 1.0}, "price"),
])
def test_bad_external_payload_names_the_field(payload: dict, field: str) -> None:
    """Missing, wrong-typed, non-positive or non-finite fields are refused by name."""
    m = MoonbotStrategy()
    with pytest.raises(ExternalSignalError, match=f"^{field}:"):
        m.on_external(payload)
    assert m.rejected == 1


def test_moonbot_ignores_market_data() -> None:
    """Trades and bars never make moonbot signals: it only admits external ones."""
    from hope.market.feeds import Bar, Trade
    m = MoonbotStrategy()
    assert m.on_trade(Trade(1.0, "X", 1.0, 1.0, True)) == []
    assert m.on_bar(Bar(1.0, "X", 1, 1, 1, 1, 1)) == []
