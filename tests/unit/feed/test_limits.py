"""The venue's limits: control pace, connection attempts, backoff, request weight, config."""

from __future__ import annotations

import random

import pytest

from hope.config import ConfigError, load
from hope.feed.messages import AggTrade, Control, MessageError, parse_frame, parse_rows
from hope.feed.pacing import Backoff, ConnectLimiter, Pacer
from hope.feed.rest import WeightGate, trading_symbols
from hope.market.live import to_trade


def test_pacer_spaces_control_messages_under_five_per_second() -> None:
    """Ten control messages booked at once go out no faster than the configured 4/s."""
    p = Pacer(4.0)
    waits = [p.reserve(100.0) for _ in range(10)]
    assert waits[0] == 0
    sends = [100.0 + w for w in waits]
    for a, b in zip(sends, sends[1:], strict=False):
        assert b - a >= 0.25 - 1e-9
    assert all(sum(1 for s in sends if x <= s < x + 1.0) < 5 for x in sends)


def test_connect_limiter_keeps_attempts_inside_the_window() -> None:
    """No more than ``limit`` attempts fall in any 300 s window, however many are asked for."""
    lim = ConnectLimiter(3, 300.0)
    at = [0.0 + lim.reserve(0.0) for _ in range(7)]
    assert at[:3] == [0.0, 0.0, 0.0]
    assert at[3] == 300.0 and at[6] == 600.0
    for x in at:
        assert sum(1 for y in at if x <= y < x + 300.0) <= 3


def test_backoff_grows_with_jitter_is_capped_and_never_gives_up() -> None:
    """Delays stay within [0, min(max, initial*2^n)], forever; reset starts small again."""
    b = Backoff(0.5, 30.0, random.Random(1))
    delays = [b.next_delay() for _ in range(200)]
    for n, d in enumerate(delays):
        assert 0 <= d <= min(30.0, 0.5 * 2 ** n)
    assert max(delays[20:]) > 15.0            # it does grow
    b.reset()
    assert b.next_delay() <= 0.5


def test_weight_gate_reads_header_waits_for_next_minute_and_honours_bans() -> None:
    """Used weight from the header fills the budget; 429 and 418 block for Retry-After."""
    g = WeightGate(share=0.5, limit=100)
    assert g.wait(4, 60.0) == 0
    g.observe(200, {"X-MBX-USED-WEIGHT-1M": "48"}, 61.0)
    assert g.wait(4, 61.0) > 0                # 48 + 4 > 50: wait for the next minute
    assert g.wait(4, 120.5) == 0              # a new minute starts from zero
    g.observe(429, {"Retry-After": "7"}, 130.0)
    assert g.wait(1, 131.0) == pytest.approx(6.0)
    g.observe(418, {"Retry-After": "120"}, 140.0)
    assert g.bans == 1 and g.wait(1, 200.0) == pytest.approx(60.0)
    assert g.wait(1, 261.0) == 0
    g.set_limit({"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                 "intervalNum": 1, "limit": 6000}]})
    assert g.budget == 3000


def test_exchange_info_selection_by_list_or_quote() -> None:
    """Symbols come from the list or by quote asset, each with the venue's status."""
    info = {"symbols": [{"symbol": "EVXBTC", "status": "TRADING", "quoteAsset": "BTC"},
                        {"symbol": "GVTBTC", "status": "BREAK", "quoteAsset": "BTC"},
                        {"symbol": "XRPETH", "status": "TRADING", "quoteAsset": "ETH"}]}
    assert trading_symbols(info, ["EVXBTC", "XRPETH"], "") == {"EVXBTC": "TRADING",
                                                              "XRPETH": "TRADING"}
    assert trading_symbols(info, [], "BTC") == {"EVXBTC": "TRADING", "GVTBTC": "BREAK"}


def test_frames_and_rows_parse_as_documented() -> None:
    """A combined-stream aggTrade, control answers, serverShutdown and REST rows parse."""
    frame = ('{"stream":"evxbtc@aggTrade","data":{"e":"aggTrade","E":2,"s":"EVXBTC","a":7,'
             '"p":"0.00001520","q":"100.0","f":1,"l":2,"T":1610226000500,"m":false,"M":true}}')
    tr = parse_frame(frame)
    assert tr == AggTrade("EVXBTC", 7, 1610226000500, "0.00001520", "100.0", False)
    assert to_trade(tr) == (1610226000.5, "EVXBTC", 1.52e-05, 100.0, True)
    assert parse_frame('{"result":null,"id":1}') == Control("result", {"result": None, "id": 1})
    assert parse_frame('{"code":2,"msg":"Invalid request"}').kind == "error"
    assert parse_frame('{"stream":"x","data":{"e":"serverShutdown","E":1}}').kind == \
        "serverShutdown"
    rows = parse_rows([{"a": 1, "p": "1.0", "q": "2", "f": 1, "l": 1, "T": 5, "m": True,
                        "M": True}], "EVXBTC")
    assert rows[0].backfilled and rows[0].buyer_maker
    for bad in ('{"stream":"x","data":{"e":"aggTrade","s":"EVXBTC","a":"7"}}', "not json",
                '[1]', '{"stream":"x","data":{"e":"aggTrade","s":"X","a":1,"T":1,'
                '"p":"nan","q":"1","m":true}}'):
        with pytest.raises(MessageError):
            parse_frame(bad)
    with pytest.raises(MessageError, match="not increasing"):
        parse_rows([{"a": 2, "p": "1", "q": "1", "T": 5, "m": True},
                    {"a": 2, "p": "1", "q": "1", "T": 5, "m": True}], "X")


@pytest.mark.parametrize("table, key", [
    ({"source": "binance", "binance": {"symbols": ["EVXBTC"], "ws_url": "ws://10.0.0.1:9"}},
     "ws_url"),
    ({"source": "binance", "binance": {"symbols": ["EVXBTC"],
                                       "rest_url": "http://example.com"}}, "rest_url"),
    ({"source": "binance"}, "binance.symbols"),
    ({"source": "kraken"}, "source"),
    ({"binance": {"symbols": ["evx"]}}, "symbols"),
    ({"binance": {"streams_per_connection": 2000}}, "streams_per_connection"),
    ({"binance": {"control_per_s": 5}}, "control_per_s"),
])
def test_bad_feed_config_is_refused_naming_the_key(tmp_path, table, key) -> None:
    """Plain URLs off loopback, a live source without symbols, venue limits exceeded: refused."""
    with pytest.raises(ConfigError, match=key):
        load(None, tmp_path, overrides={"scanner": table})


def test_defaults_stay_on_the_playback_and_loopback_plain_urls_are_allowed(tmp_path) -> None:
    """Defaults alone never go live; ws:// and http:// to 127.0.0.1 pass (the stand-in)."""
    assert load(None, tmp_path).scanner.source == "replay"
    cfg = load(None, tmp_path, overrides={"scanner": {"source": "binance", "binance": {
        "ws_url": "ws://127.0.0.1:9443", "rest_url": "http://127.0.0.1:9444",
        "quote": "BTC"}}})
    assert cfg.scanner.binance.quote == "BTC"
