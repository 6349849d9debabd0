"""The ``[scanner]`` config section: what to replay, how fast, and every strategy threshold.

Defaults are chosen for margin on the recorded data (see ``hope scanner eval``), not tuned per
file: the pump detector keeps zero false signals and misses no pump with its main thresholds
scaled by 0.75 and by 1.25.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hope.config import register_section
from hope.feed.config import BinanceConfig
from hope.feed.symbol_shard import SymbolShard

DEFAULT_FILES = [
    "data/binance_pump_trades_EVXBTC_2021-01-09T2100Z.csv.gz",
    "data/binance_pump_trades_GVTBTC_2021-01-23T2100Z.csv.gz",
    "data/binance_pump_trades_IDEXBTC_2020-12-31T1700Z.csv.gz",
    "data/binance_pump_trades_NASBTC_2021-01-14T2100Z.csv.gz",
    "data/binance_pump_trades_RCNBTC_2021-01-07T2100Z.csv.gz",
    "data/binance_pump_trades_VIBBTC_2021-09-05T1700Z.csv.gz",
]


def _positive(obj: object, *names: str) -> None:
    for name in names:
        if not getattr(obj, name) > 0:
            raise ValueError(f"{name}: must be > 0")


@dataclass
class PumpConfig:
    """Pump detector. A burst of distinct taker buy orders that lifts the price sharply.

    Trades of one taker order (same millisecond, same side) count as one order, so a single
    whale sweeping the book is not mistaken for a crowd.
    """

    enabled: bool = True
    window_s: float = 2.0             # sliding window for orders, buy share, price change, volume
    min_buy_orders: int = 4           # the main threshold: distinct taker buy orders in the window
    min_buy_share: float = 0.65       # taker-buy quote volume / all quote volume in window
    min_delta_pct: float = 8.0        # last price vs the trailing reference (price before window)
    min_volume_ratio: float = 10.0    # window quote volume vs trailing baseline for a window
    baseline_s: float = 3600.0        # trailing baseline span for volume
    confirm_s: float = 15.0           # a signal arms the long cooldown only if confirmed in this
    confirm_factor: float = 2.0       # ... by min_buy_orders * factor orders with price still up
    cooldown_s: float = 3600.0        # after a confirmed pump, one signal per symbol (market time)

    def validate(self) -> None:
        _positive(self, "window_s", "min_buy_orders", "min_delta_pct", "min_volume_ratio",
                  "baseline_s", "confirm_s", "confirm_factor")
        if not 0 <= self.min_buy_share <= 1:
            raise ValueError("min_buy_share: must be within [0, 1]")
        if self.cooldown_s < 0:
            raise ValueError("cooldown_s: must be >= 0")
        if self.baseline_s <= self.window_s:
            raise ValueError("baseline_s: must exceed window_s")

    def scaled(self, factor: float) -> PumpConfig:
        """The same config with the main thresholds (orders, price change, volume) times factor."""
        return dataclasses.replace(
            self, min_buy_orders=max(1, round(self.min_buy_orders * factor)),
            min_delta_pct=self.min_delta_pct * factor,
            min_volume_ratio=self.min_volume_ratio * factor)


@dataclass
class TrendConfig:
    """EMA crossover on bars: fast EMA crosses above slow with a minimum slope of the slow EMA."""

    enabled: bool = True
    fast: int = 12                    # EMA periods, in bars
    slow: int = 26
    min_slope_pct: float = 0.02       # slow EMA change per bar, percent, at the crossover
    bar_s: float = 60.0               # bar length when bars are built from trades
    cooldown_bars: int = 30           # no second signal for a symbol within this many bars

    def validate(self) -> None:
        _positive(self, "fast", "slow", "bar_s")
        if self.fast >= self.slow:
            raise ValueError("fast: must be < slow")
        if self.min_slope_pct < 0 or self.cooldown_bars < 0:
            raise ValueError("min_slope_pct: must be >= 0")


@dataclass
class ReplayConfig:
    files: list[str] = field(default_factory=lambda: list(DEFAULT_FILES))
    speed: float = 1.0                # 1 = real time, N = N times, 0 = as fast as possible
    max_gap_s: float = 2.0            # quiet gaps longer than this are cut to this (wall time)
    start_before_pump_s: float = 20.0  # each file starts this long before the pump in its name
    episode_s: float = 600.0          # ... and ends this long after it (0 = end of file)
    start_ts: float = 0.0             # explicit start for all files (seconds UTC); 0 = as above
    warmup_s: float = 3600.0          # history fed to strategies, unpaced, before the start
    loop: bool = False                # start over when the replay ends (else idle)

    def validate(self) -> None:
        if self.speed < 0:
            raise ValueError("speed: must be >= 0")
        if self.max_gap_s <= 0:
            raise ValueError("max_gap_s: must be > 0")
        for name in ("warmup_s", "start_before_pump_s", "episode_s", "start_ts"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0")


@register_section("scanner")
@dataclass
class ScannerConfig:
    source: str = "replay"            # "replay" (data/ files) or "binance" (the live feed)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    binance: BinanceConfig = field(default_factory=BinanceConfig)
    pump: PumpConfig = field(default_factory=PumpConfig)
    trend: TrendConfig = field(default_factory=TrendConfig)
    price_interval_s: float = 0.25    # at most one PRICE per symbol per this much market time
    strategies: list[str] = field(default_factory=lambda: ["pump", "trend"])
    # "k/n": this scanner owns the symbols of shard k of n (hope/market/shard.py); "": all
    shard: str = ""

    def validate(self) -> None:
        SymbolShard.parse(self.shard)
        if self.source not in ("replay", "binance"):
            raise ValueError(f"source: {self.source!r} is neither \"replay\" nor \"binance\"")
        if self.source == "binance" and not (self.binance.symbols or self.binance.quote):
            raise ValueError("binance.symbols: a live feed needs symbols or quote")
        if self.price_interval_s < 0:
            raise ValueError("price_interval_s: must be >= 0")
        for name in self.strategies:
            if name not in ("pump", "trend", "moonbot"):
                raise ValueError(f"strategies: unknown strategy {name!r}")
