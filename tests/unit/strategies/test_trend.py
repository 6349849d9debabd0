"""Trend strategy: EMA crossover with a minimum slope, on bar files or on bars built from trades."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hope.market.bars import BarBuilder
from hope.market.config import TrendConfig
from hope.market.feeds import Bar, Trade, open_feed
from hope.strategies.trend import TrendStrategy

DATA = Path(__file__).resolve().parents[3] / "data"
FTX = DATA / "ftx_BTC-PERP_1m_2021-12-31_2022-02-01.csv.gz"


def bars(closes: list[float], start: float = 1_600_000_000.0, step: float = 60.0) -> list[Bar]:
    return [Bar(start + i * step, "TST", c, c, c, c, 1.0) for i, c in enumerate(closes)]


def run(items: list[Bar], cfg: TrendConfig | None = None) -> list[dict]:
    s = TrendStrategy(cfg)
    return [x for b in items for x in s.on_bar(b)]


def test_ftx_one_minute_bars_pin_the_crossovers() -> None:
    """On the FTX BTC-PERP 1-minute bars the default trend finds exactly these crossovers."""
    sigs = run(list(open_feed(FTX)))
    assert len(sigs) == 92
    firsts = [datetime.fromtimestamp(s["bar_ts"], UTC).strftime("%Y-%m-%dT%H:%M") for s in sigs[:5]]
    assert firsts == ["2022-01-01T00:07", "2022-01-03T05:28", "2022-01-04T00:31",
                      "2022-01-04T19:09", "2022-01-04T20:13"]
    assert sigs[0]["price"] == 46541.0 and sigs[0]["market_ts"] == sigs[0]["bar_ts"] + 60
    assert all(s["slope_pct"] >= TrendConfig().min_slope_pct for s in sigs)


def test_ftx_crossovers_are_deterministic() -> None:
    """Same bars and config give the same signals, payload for payload."""
    assert run(list(open_feed(FTX))[:5000]) == run(list(open_feed(FTX))[:5000])


def test_rise_after_decline_crosses_once_with_payload_fields() -> None:
    """A decline then a steady rise gives one bullish crossover signal with convention fields."""
    closes = [100 - 0.1 * i for i in range(60)] + [94 + 0.5 * i for i in range(60)]
    sigs = run(bars(closes))
    assert len(sigs) == 1
    s = sigs[0]
    for key in ("symbol", "strategy", "price", "market_ts", "buys_per_sec", "delta_pct",
                "window_s"):
        assert key in s
    assert s["strategy"] == "trend" and s["delta_pct"] > 0


def test_flat_slope_crossover_is_filtered() -> None:
    """A crossover whose slow EMA barely rises is below min_slope_pct: no signal."""
    closes = [100 - 0.01 * i for i in range(60)] + [99.4 + 0.002 * i for i in range(60)]
    assert run(bars(closes)) == []
    assert len(run(bars(closes), TrendConfig(min_slope_pct=0.0))) == 1


def test_warmup_bars_never_signal() -> None:
    """The first ``slow`` bars of a symbol only warm up the EMAs."""
    closes = [100.0] + [100 + i for i in range(1, 20)]
    assert run(bars(closes)) == []


def test_bar_builder_aggregates_trades_into_ohlcv() -> None:
    """Trades in one bucket make one OHLCV bar, closed by the first trade of the next bucket."""
    b = BarBuilder(60.0)
    t0 = 1_600_000_050.0  # bucket 1_600_000_020 (multiples of 60 since the epoch)
    assert b.on_trade(Trade(t0, "X", 10.0, 1.0, True)) == []
    assert b.on_trade(Trade(t0 + 5, "X", 12.0, 2.0, True)) == []
    assert b.on_trade(Trade(t0 + 6, "X", 9.0, 1.0, False)) == []
    assert b.on_trade(Trade(t0 + 7, "X", 11.0, 1.0, False)) == []
    closed = b.on_trade(Trade(t0 + 60, "X", 11.5, 1.0, True))
    assert closed == [Bar(1_600_000_020.0, "X", 10.0, 12.0, 9.0, 11.0, 5.0)]
    assert b.flush() == [Bar(1_600_000_080.0, "X", 11.5, 11.5, 11.5, 11.5, 1.0)]


def test_trend_on_trades_builds_bars() -> None:
    """Fed trades, the strategy builds bars and signals on the same rise as with bars."""
    closes = [100 - 0.1 * i for i in range(60)] + [94 + 0.5 * i for i in range(61)]
    trades = [Trade(1_600_000_000.0 + 60 * i + 1, "TST", c, 1.0, True)
              for i, c in enumerate(closes)]
    s = TrendStrategy()
    sigs = [x for t in trades for x in s.on_trade(t)]
    assert len(sigs) == 1
