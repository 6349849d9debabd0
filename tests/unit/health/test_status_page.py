"""Tests for hope.health.status_page: the operator's HTML page."""

from html.parser import HTMLParser

from hope.health.registry import Registry
from hope.health.status_page import StatusBoard


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.refresh, self.text = [], None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.ids.append(a.get("id"))
        if tag == "meta" and a.get("http-equiv") == "refresh":
            self.refresh = a.get("content")

    def handle_data(self, data):
        self.text.append(data)


def _page(board, reg, not_up=None):
    p = _Tables()
    p.feed(board.render(reg, not_up or {}, refresh=5, now=2000.0))
    return p, " ".join(p.text)


def test_page_has_every_section_and_refreshes():
    """The page holds services, P&L, decisions, closes and DLQ tables and a 5 s refresh."""
    p, _ = _page(StatusBoard(), Registry())
    assert p.ids == ["services", "pnl", "decisions", "closes", "dlq"] and p.refresh == "5"


def test_services_decisions_pnl_and_dlq_are_shown():
    """Service rows, a decision, P&L totals and DLQ counts appear in the text."""
    reg = Registry()
    reg.observe({"service": "scanner", "pid": 11, "queue_depth": 0}, 1999.0)
    reg.get("scanner").status = "UP"
    reg.observe({"service": "dlq-retry", "pid": 12, "dlq": {"parked": 3, "pending": 1}}, 1999.0)
    board = StatusBoard()
    board.on_decision({"symbol": "EVXBTC", "action": "BUY", "confidence": 0.8,
                       "position_size": 10.0, "reasons": [{"rule": "momentum"}]}, 1990.0)
    board.on_close({"symbol": "EVXBTC", "pnl": 1.5, "fees": 0.1, "reason": "take_profit",
                    "entry_price": 1.0, "exit_price": 1.2, "quote": "USDT"}, 1995.0, "e1")
    board.on_close({"symbol": "EVXBTC", "pnl": 1.5, "fees": 0.1}, 1995.0, "e1")  # redelivered
    _, text = _page(board, reg, {"dlq-retry": {}})
    assert "scanner" in text and "EVXBTC" in text and "momentum" in text
    assert "1.500000" in text and board.count == 1 and board.wins == 1
    assert "DEGRADED: dlq-retry" in text


def test_markup_in_data_is_escaped():
    """A symbol carrying HTML is shown as text, not injected as markup."""
    board = StatusBoard()
    board.on_decision({"symbol": "<script>x</script>", "action": "SKIP"}, 1.0)
    html = board.render(Registry(), {}, 5, now=2.0)
    assert "<script>x" not in html and "&lt;script&gt;" in html


def test_a_btc_buy_size_is_not_rounded_to_zero():
    """A BUY of 0.001 BTC reads 0.001 BTC (significant digits), not 0.00."""
    board = StatusBoard()
    board.on_decision({"symbol": "EVXBTC", "action": "BUY", "confidence": 0.8, "quote": "BTC",
                       "position_size": 0.001, "reasons": []}, 1990.0)
    board.on_close({"symbol": "EVXBTC", "pnl": 0.0000123, "fees": 0.000001, "quote": "BTC",
                    "reason": "take_profit", "entry_price": 0.0000152, "exit_price": 0.0000161},
                   1995.0, "e1")
    _, text = _page(board, Registry())
    assert "0.001 BTC" in text and "0.00 " not in text
    assert "0.0000152" in text and "+0.0000123 BTC" in text


def test_live_feed_section_shows_connections_and_symbols():
    """A scanner heartbeat with a feed table gets a Live feed section; without, none."""
    reg = Registry()
    reg.observe({"service": "scanner", "pid": 1}, 1999.0)
    assert "Live feed" not in _page(StatusBoard(), reg)[1]
    feed = {"connections": [{"index": 0, "state": "up", "streams": 2, "reconnects": 1}],
            "connections_up": 1, "symbols_count": 2, "lag_s": {"p50": 0.01, "p99": 0.2},
            "symbols": {"EVXBTC": {"last_trade_age_s": 400.0, "lag_s": 0.01, "stale": True,
                                   "status": "TRADING"}}}
    reg.observe({"service": "scanner", "pid": 1, "feed": feed}, 1999.5)
    _, text = _page(StatusBoard(), reg)
    assert "Live feed" in text and "1/1 connections up" in text
    assert "EVXBTC" in text and "STALE" in text
