"""The ``[decision]`` config section: every threshold of the Eye of God's two committees."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section
from hope.trading.state import STATES


def _positive_map(name: str, table: dict[str, float]) -> None:
    for quote, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{name}.{quote}: must be a number > 0, got {value!r}")


@register_section("decision")
@dataclass
class DecisionConfig:
    # --- alpha: is the signal good? ---
    strategies_allowed: list[str] = field(default_factory=lambda: ["pump", "trend", "moonbot"])
    flow_strategies: list[str] = field(default_factory=lambda: ["pump"])  # need buys/delta fields
    min_buys_per_sec: float = 2.0        # pump signals: taker buy trades per second in window
    min_delta_pct: float = 5.0           # pump signals: price change vs the trailing reference
    min_confidence: float = 0.5
    # confidence of a non-flow strategy whose signal carries none (0 when not listed: no trade)
    strategy_confidence: dict[str, float] = field(
        default_factory=lambda: {"trend": 0.6, "moonbot": 0.6})
    cooldown_s: float = 600.0            # per symbol, market clock, since the last BUY
    blacklist: list[str] = field(default_factory=list)
    # --- risk: may we take it? ---
    max_signal_age_s: float = 10.0       # market clock: signal market_ts behind the market now
    max_signal_ahead_s: float = 60.0     # ... and ahead of it (a pushed clock, a forged stamp)
    max_transit_s: float = 30.0          # wall clock: envelope timestamp behind the wall now
    max_price_age_s: float = 300.0       # market clock: the symbol's last PRICE behind market now
    max_market_skew_s: float = 60.0      # live-feed signals: |wall now - market_ts| at most this
    position_size: dict[str, float] = field(
        default_factory=lambda: {"BTC": 0.001, "ETH": 0.02, "USDT": 50.0, "BUSD": 50.0})
    max_symbol_exposure: dict[str, float] = field(
        default_factory=lambda: {"BTC": 0.001, "ETH": 0.02, "USDT": 50.0, "BUSD": 50.0})
    daily_loss_limit: dict[str, float] = field(
        default_factory=lambda: {"BTC": 0.003, "ETH": 0.06, "USDT": 150.0, "BUSD": 150.0})
    max_open_positions: int = 3
    max_buys_per_min: int = 6            # order-rate limit, market clock
    audit_max_lag_s: float = 15.0        # wall clock since the audit writer's last watermark
    require_audit: bool = True
    breaker_unknown_blocks: bool = False  # no BREAKER heard yet: the executor guards itself
    # --- targets handed to the executor ---
    take_profit_pct: float = 5.0
    stop_loss_pct: float = 3.0
    timeout_s: float = 900.0             # market clock
    # a missing trading_state file on a fresh instance (no audit log yet) starts in this state
    initial_trading_state: str = "ACTIVE"
    state_reload_s: float = 1.0          # re-read the trading state file (belt and braces)

    def validate(self) -> None:
        for name in ("min_buys_per_sec", "min_delta_pct", "min_confidence", "cooldown_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0")
        for name in ("max_signal_age_s", "max_signal_ahead_s", "max_transit_s",
                     "max_price_age_s", "audit_max_lag_s", "max_market_skew_s",
                     "take_profit_pct", "stop_loss_pct", "timeout_s", "state_reload_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.stop_loss_pct >= 100:
            raise ValueError("stop_loss_pct: must be < 100")
        if self.max_open_positions < 1 or self.max_buys_per_min < 1:
            raise ValueError("max_open_positions/max_buys_per_min: must be >= 1")
        for name in ("position_size", "max_symbol_exposure", "daily_loss_limit"):
            _positive_map(name, getattr(self, name))
        if self.initial_trading_state not in STATES:
            raise ValueError(f"initial_trading_state: must be one of {STATES}")
