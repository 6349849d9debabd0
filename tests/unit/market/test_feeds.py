"""Feeds: one reader over every recorded format, bad rows counted and reported as file:line."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from hope.market.feeds import (
    Bar,
    FeedError,
    Trade,
    detect_format,
    open_feed,
    pump_time_from_name,
    symbol_from_name,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "market"
DATA = Path(__file__).resolve().parents[3] / "data"


def test_ccxt_aggtrades_parsed_to_seconds_and_slashless_symbol() -> None:
    """ccxt rows become Trades with ts in seconds, symbol without slash and the taker side."""
    feed = open_feed(FIX / "ccxt_small.csv")
    trades = list(feed)
    assert feed.format == "ccxt_aggtrades" and feed.kind == "trades"
    assert trades[0] == Trade(1610053204.203, "EVXBTC", 1.058e-05, 141.0, False)
    assert trades[1].taker_buy is True
    assert [t.ts for t in trades] == sorted(t.ts for t in trades)


def test_bad_rows_are_counted_skipped_and_named_by_file_and_line() -> None:
    """Bad time, unknown side, short row, negative price, time going back: each file:line: reason."""
    seen: list[str] = []
    feed = open_feed(FIX / "ccxt_small.csv", on_error=seen.append)
    trades = list(feed)
    assert len(trades) == 4
    assert feed.errors.count == 5
    prefix = str(FIX / "ccxt_small.csv") + ":"
    lines = [m[len(prefix):].split(":")[0] for m in feed.errors.messages]
    assert lines == ["5", "6", "7", "8", "9"]
    assert all(m.startswith(str(FIX / "ccxt_small.csv") + ":") for m in feed.errors.messages)
    assert "hold" in feed.errors.messages[1]
    assert "expected 7 columns" in feed.errors.messages[2]
    assert "backwards" in feed.errors.messages[4]
    assert seen == feed.errors.messages


def test_tardis_microseconds_and_nan_price_rejected() -> None:
    """Tardis timestamps are microseconds; a NaN price is a counted bad row."""
    feed = open_feed(FIX / "tardis_small.csv")
    trades = list(feed)
    assert trades[0] == Trade(1582329602.111, "BTCUSDT", 9682.0, 0.132, True)
    assert trades[1].taker_buy is False
    assert feed.errors.count == 1 and ":4:" in feed.errors.messages[0]


def test_xrpeth_symbol_from_file_name_and_side_from_is_buyer_maker() -> None:
    """The XRP/ETH format has no symbol column: it comes from the file name; is_buyer_maker decides."""
    feed = open_feed(FIX / "binance_XRPETH_aggtrades_small.csv")
    trades = list(feed)
    assert [t.symbol for t in trades] == ["XRPETH", "XRPETH"]
    assert [t.taker_buy for t in trades] == [False, True]
    assert feed.errors.count == 1 and "maybe" in feed.errors.messages[0]


def test_bar_formats_read_as_bars() -> None:
    """FTX 1-minute and freqtrade long-format 5-minute files yield Bars in UTC seconds."""
    ftx = list(open_feed(FIX / "ftx_BTC-PERP_1m_small.csv"))
    assert ftx[0] == Bar(1640991660.0, "BTC-PERP", 46319.0, 46385.0, 46319.0, 46377.0,
                         2300413.7295)
    assert len(ftx) == 3
    ft = open_feed(FIX / "freqtrade_5m_small.csv")
    bars = list(ft.bars())
    assert ft.kind == "bars" and [b.symbol for b in bars] == ["ADABTC", "ETHBTC", "ADABTC"]
    assert bars[0].ts == 1515560100.0
    with pytest.raises(FeedError):
        ft.trades()


def test_gzip_and_plain_give_the_same_rows(tmp_path: Path) -> None:
    """A gzip file is detected by its magic bytes and reads exactly like the plain file."""
    src = FIX / "ccxt_small.csv"
    gz = tmp_path / "ccxt_small.csv.gz"
    with open(src, "rb") as fin, gzip.open(gz, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    assert list(open_feed(gz)) == list(open_feed(src))


def test_unknown_header_and_missing_file_raise_feed_error(tmp_path: Path) -> None:
    """A file that cannot be read at all raises FeedError naming it."""
    with pytest.raises(FeedError, match="unknown_header.csv:1: unknown header"):
        open_feed(FIX / "unknown_header.csv")
    with pytest.raises(FeedError, match="not found"):
        open_feed(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(FeedError, match="empty"):
        open_feed(tmp_path / "empty.csv")


def test_truncated_gzip_counts_a_bad_row_instead_of_crashing(tmp_path: Path) -> None:
    """A gzip cut short reads what it can and reports the rest as unreadable."""
    raw = (DATA / "binance_XRPETH_aggtrades_2019-10-11.csv.gz").read_bytes()
    cut = tmp_path / "binance_XRPETH_cut.csv.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    feed = open_feed(cut)
    trades = list(feed)
    assert 0 < len(trades) < 12477
    assert feed.errors.count == 1 and "unreadable" in feed.errors.messages[0]


def test_names_give_symbol_and_pump_time() -> None:
    """File names carry the symbol (XRPETH) and the announced pump time (UTC)."""
    assert symbol_from_name("binance_XRPETH_aggtrades_2019-10-11.csv.gz") == "XRPETH"
    assert symbol_from_name("ftx_BTC-PERP_1m_x.csv") == "BTC-PERP"
    assert pump_time_from_name("binance_pump_trades_EVXBTC_2021-01-09T2100Z.csv.gz") == 1610226000.0
    assert pump_time_from_name("plain.csv") is None
    assert detect_format([" Timestamp", "open", "high", "low", "close", "volume"])[1] == "bars"


@pytest.mark.parametrize(("name", "rows"), [
    ("binance_pump_trades_EVXBTC_2021-01-09T2100Z.csv.gz", 44315),
    ("binance-futures_BTCUSDT_trades_2020-02-22_tardis.csv.gz", 9999),
    ("binance_XRPETH_aggtrades_2019-10-11.csv.gz", 12477),
])
def test_real_files_read_completely_without_bad_rows(name: str, rows: int) -> None:
    """The recorded data reads in full with zero bad rows."""
    feed = open_feed(DATA / name)
    assert sum(1 for _ in feed) == rows
    assert feed.errors.count == 0 and feed.rows == rows
