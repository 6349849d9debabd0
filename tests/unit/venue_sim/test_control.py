"""Stream control messages (no sockets): the documented replies and error codes."""

from __future__ import annotations

import json

import pytest

from hope.venue_sim.control import Subscriptions, handle, valid_stream


def reply(text: str, subs: Subscriptions | None = None) -> dict:
    return json.loads(handle(text, subs or Subscriptions(combined=True)).reply)


def test_subscribe_list_unsubscribe_keep_order_and_ignore_repeats() -> None:
    """SUBSCRIBE adds in order (repeats ignored), LIST shows them, UNSUBSCRIBE removes."""
    subs = Subscriptions(combined=True)
    out = handle('{"method":"SUBSCRIBE","params":["evxbtc@aggTrade","gvtbtc@trade"],"id":1}',
                 subs)
    assert json.loads(out.reply) == {"result": None, "id": 1}
    assert out.added == ["evxbtc@aggTrade", "gvtbtc@trade"]
    out = handle('{"method":"SUBSCRIBE","params":["evxbtc@aggTrade"],"id":2}', subs)
    assert out.added == []
    assert reply('{"method":"LIST_SUBSCRIPTIONS","id":"abc"}', subs) == {
        "result": ["evxbtc@aggTrade", "gvtbtc@trade"], "id": "abc"}
    out = handle('{"method":"UNSUBSCRIBE","params":["evxbtc@aggTrade"],"id":null}', subs)
    assert json.loads(out.reply) == {"result": None, "id": None}
    assert out.removed == ["evxbtc@aggTrade"] and subs.names() == ["gvtbtc@trade"]


@pytest.mark.parametrize("text, code, msg_start", [
    ("{oops", 3, "Invalid JSON: expected value at line 1 column 2"),
    ('{"params":[],"id":1}', 2, "Invalid request: missing field `method`"),
    ('{"method":"SUBSCRIBE","params":["evxbtc@aggTrade"]}', 2,
     "Invalid request: request ID must be an unsigned integer"),
    ('{"method":"SUBSCRIBE","params":[],"id":"550e8400-e29b-41d4-a716-446655440000"}', 2,
     "Invalid request: request ID must be an unsigned integer"),
    ('{"method":"SUBSCRIBE","params":[],"id":true}', 2,
     "Invalid request: request ID must be an unsigned integer"),
    ('{"method":"PING","id":1}', 2, "Invalid request: unknown variant `PING`, expected one of "
                                   "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`"),
    ('{"method":"SUBSCRIBE","params":["evx btc"],"id":1}', 2, "Invalid request: invalid stream"),
    ('{"method":"SUBSCRIBE","params":"evxbtc@aggTrade","id":1}', 2,
     "Invalid request: invalid stream"),
    ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}', 1,
     "Invalid value type: expected Boolean"),
    ('{"method":"GET_PROPERTY","params":[5],"id":1}', 2,
     "Invalid request: property name must be a string"),
    ('{"method":"GET_PROPERTY","params":["colour"],"id":7}', 0, "Unknown property"),
])
def test_errors_carry_the_documented_codes(text: str, code: int, msg_start: str) -> None:
    """Each malformed request gets the documented {"code", "msg"} reply."""
    out = reply(text)
    assert out["code"] == code and out["msg"].startswith(msg_start)
    assert ("id" in out) == (code == 0)     # only "Unknown property" echoes the id


def test_set_and_get_combined_property() -> None:
    """SET_PROPERTY combined switches the wrapping; GET_PROPERTY reads it."""
    subs = Subscriptions(combined=False)
    assert reply('{"method":"SET_PROPERTY","params":["combined",true],"id":5}', subs) == {
        "result": None, "id": 5}
    assert subs.combined is True
    assert reply('{"method":"GET_PROPERTY","params":["combined"],"id":2}', subs) == {
        "result": True, "id": 2}


def test_stream_names() -> None:
    """Documented stream shapes are accepted, anything else refused."""
    for name in ("evxbtc@aggTrade", "btcusdt@kline_1m", "bnbbtc@depth20@100ms",
                 "!miniTicker@arr", "btcusdt@ticker_1h"):
        assert valid_stream(name), name
    for name in ("evxbtc", "evxbtc@aggtrades", "@aggTrade", "evx/btc@trade", 5):
        assert not valid_stream(name), name


def test_stream_limit_refuses_the_whole_request() -> None:
    """Passing max_streams refuses the subscription and adds none of it."""
    subs = Subscriptions(combined=True, max_streams=1)
    out = reply('{"method":"SUBSCRIBE","params":["aabtc@trade","bbbtc@trade"],"id":1}', subs)
    assert out["code"] == 2 and subs.names() == []
