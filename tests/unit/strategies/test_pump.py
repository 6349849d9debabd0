"""Pump strategy: crowd bursts signal once, whales and calm markets never, cooldown on market time."""

from __future__ import annotations

from pathlib import Path

from hope.market.config import PumpConfig
from hope.market.feeds import Trade, open_feed
from hope.strategies.pump import PumpStrategy

T0 = 1_600_000_000.0
P = 1.0e-05
FIX = Path(__file__).resolve().parents[2] / "fixtures" / "market"


def calm(start: float, end: float, step: float = 30.0, price: float = P) -> list[Trade]:
    """Alternating small trades every ``step`` seconds at a flat price."""
    out, t, i = [], start, 0
    while t < end:
        out.append(Trade(t, "TSTBTC", price * (1 + 0.001 * (i % 3 - 1)), 100.0, i % 2 == 0))
        t += step
        i += 1
    return out


def burst(start: float, orders: int, *, price: float = P, step_pct: float = 5.0,
          gap: float = 0.02, levels: int = 2) -> list[Trade]:
    """``orders`` distinct taker buy orders ``gap`` s apart, each sweeping ``levels`` levels."""
    out = []
    for i in range(orders):
        for k in range(levels):
            px = price * (1 + (step_pct * i + 0.1 * k) / 100)
            out.append(Trade(start + i * gap, "TSTBTC", px, 1000.0, True))
    return out


def run(trades: list[Trade], cfg: PumpConfig | None = None) -> list[dict]:
    strat = PumpStrategy(cfg)
    out: list[dict] = []
    for t in trades:
        out.extend(strat.on_trade(t))
    return out


def test_crowd_burst_gives_one_signal_with_convention_fields() -> None:
    """A burst of distinct buy orders lifting the price signals once, at the trade that crossed."""
    trades = calm(T0, T0 + 3600) + burst(T0 + 3600, 30)
    sigs = run(trades)
    assert len(sigs) == 1
    s = sigs[0]
    for key in ("symbol", "strategy", "price", "market_ts", "buys_per_sec", "delta_pct",
                "window_s", "taker_buy_share", "volume_ratio", "buy_orders"):
        assert key in s
    assert s["strategy"] == "pump" and s["symbol"] == "TSTBTC"
    assert s["buy_orders"] == PumpConfig().min_buy_orders
    assert s["market_ts"] == T0 + 3600 + 0.02 * (PumpConfig().min_buy_orders - 1)
    assert s["delta_pct"] >= PumpConfig().min_delta_pct and s["taker_buy_share"] == 1.0


def test_single_whale_sweep_is_not_a_pump() -> None:
    """Thirty trades of one taker order in one millisecond, +30 %, are one order: no signal."""
    whale = [Trade(T0 + 3600, "TSTBTC", P * (1 + i / 100), 1000.0, True) for i in range(30)]
    assert run(calm(T0, T0 + 3600) + whale + calm(T0 + 3601, T0 + 7200)) == []


def test_calm_market_and_selling_bursts_never_signal() -> None:
    """Flat trading and a crowd of sellers pushing the price down give no signal."""
    sells = [Trade(T0 + 3600 + i * 0.02, "TSTBTC", P * (1 - i / 100), 1000.0, False)
             for i in range(30)]
    assert run(calm(T0, T0 + 3600, step=0.5) + sells) == []


def test_small_price_move_is_not_enough() -> None:
    """Many buy orders that lift the price less than min_delta_pct give no signal."""
    trades = calm(T0, T0 + 3600) + burst(T0 + 3600, 30, step_pct=0.1)
    assert run(trades) == []


def test_confirmed_pump_arms_cooldown_one_signal_per_pump() -> None:
    """A second burst within cooldown_s of a confirmed pump does not signal again."""
    trades = (calm(T0, T0 + 3600) + burst(T0 + 3600, 30)
              + calm(T0 + 3700, T0 + 5000, price=P * 1.5)
              + burst(T0 + 5000, 30, price=P * 1.5))
    strat = PumpStrategy()
    sigs = [s for t in trades for s in strat.on_trade(t)]
    assert len(sigs) == 1 and strat.confirmed == 1


def test_after_cooldown_a_new_pump_signals_again() -> None:
    """The cooldown runs on market time: a burst after cooldown_s signals."""
    cfg = PumpConfig(cooldown_s=600.0)
    trades = (calm(T0, T0 + 3600) + burst(T0 + 3600, 30)
              + calm(T0 + 3700, T0 + 8000, price=P * 1.5)
              + burst(T0 + 8000, 30, price=P * 1.5))
    assert len(run(trades, cfg)) == 2


def test_pre_pump_signal_does_not_use_up_the_cooldown() -> None:
    """A pre-announcement burst that fizzles out releases the cooldown: the pump still signals."""
    cfg = PumpConfig()
    pre = burst(T0 + 3500, cfg.min_buy_orders, gap=0.1)  # just enough to signal, not to confirm
    trades = (calm(T0, T0 + 3500) + pre
              + calm(T0 + 3520, T0 + 3600, step=10, price=P * 1.1)
              + burst(T0 + 3600, 40, price=P * 1.1))
    strat = PumpStrategy(cfg)
    sigs = [s for t in trades for s in strat.on_trade(t)]
    assert [round(s["market_ts"]) for s in sigs] == [round(T0 + 3500), round(T0 + 3600)]
    assert strat.released == 1 and strat.confirmed == 1


def test_symbols_are_independent() -> None:
    """A pump on one symbol neither triggers nor blocks another."""
    other = [t._replace(symbol="OTHBTC") for t in calm(T0, T0 + 3600) + burst(T0 + 3600, 30)]
    mine = calm(T0, T0 + 3600) + burst(T0 + 3600.5, 30)
    merged = sorted(other + mine, key=lambda t: t.ts)
    assert sorted(s["symbol"] for s in run(merged)) == ["OTHBTC", "TSTBTC"]


def test_same_data_and_config_give_the_same_signals() -> None:
    """Determinism: two runs over the synthetic pump file give identical payloads."""
    path = FIX / "binance_pump_trades_TSTBTC_2021-01-01T0000Z.csv"
    first = run(list(open_feed(path)))
    second = run(list(open_feed(path)))
    assert first == second and len(first) == 1


def test_payload_numbers_are_finite_without_a_baseline() -> None:
    """With an empty (zero-volume) baseline the ratio is capped, never inf (the wire forbids it)."""
    trades = [Trade(T0, "TSTBTC", P, 0.0, False)] + burst(T0 + 10, 30)
    sigs = run(trades)
    assert len(sigs) == 1 and sigs[0]["volume_ratio"] == 1e9


def test_scaled_config_scales_main_thresholds() -> None:
    """scaled() multiplies orders, price change and volume ratio; the rest stays."""
    base = PumpConfig()
    up = base.scaled(1.25)
    assert up.min_buy_orders == round(base.min_buy_orders * 1.25)
    assert up.min_delta_pct == base.min_delta_pct * 1.25
    assert up.min_volume_ratio == base.min_volume_ratio * 1.25
    assert up.min_buy_share == base.min_buy_share and up.window_s == base.window_s
