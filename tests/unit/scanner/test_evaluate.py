"""``hope scanner eval``: pump start, scoring, the targets on the real data and their margin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hope.cli import main
from hope.market.config import PumpConfig
from hope.scanner.evaluate import evaluate, load_events, pump_start

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data"
FIX = ROOT / "tests" / "fixtures" / "market"
ALL = sorted(str(p) for p in DATA.glob("*.csv.gz"))
PUMPS = [p for p in ALL if "pump_trades" in p]


@pytest.fixture(scope="module")
def default_result() -> dict:
    return evaluate(ALL, PumpConfig())


def test_pump_start_is_first_trade_with_ten_in_the_next_second() -> None:
    """The start is the first trade at/after T followed (itself included) by 10 trades in 1 s."""
    ts = [99.0, 100.5, 101.0, 101.2] + [102.0 + 0.05 * i for i in range(10)]
    assert pump_start(ts, 100.0) == 102.0
    assert pump_start(ts[:10], 100.0) is None
    assert pump_start(ts, 102.3) is None


def test_events_file_gives_pump_times_by_symbol() -> None:
    """The semicolon/BOM events list is keyed by coin+pair, times in UTC."""
    events = load_events(DATA / "pump_events_telegram_PDs.csv")
    assert 1610226000.0 in events["EVXBTC"]
    assert sum(len(v) for v in events.values()) == 76


def test_default_thresholds_meet_the_target_on_all_files(default_result: dict) -> None:
    """Every pump within 2 s, most within 100 ms, zero false signals in all ten files."""
    s = default_result["summary"]
    assert s["files"] == 10 and s["pumps"] == 6
    assert s["missed"] == 0 and s["max_delay_s"] <= 2.0
    assert s["within_100ms"] >= 4
    assert s["false_signals"] == 0 and s["bad_rows"] == 0
    assert s["extra_pump_signals"] == 0
    assert s["target_met"]
    calm = [r for r in default_result["files"]
            if "BTCUSDT" in r["file"] or "XRPETH" in r["file"]]
    assert len(calm) == 2 and all(r["signals"] == [] for r in calm)


@pytest.mark.parametrize("scale", [0.75, 1.25])
def test_margin_threshold_scaled_25_percent_still_clean(scale: float) -> None:
    """With the main thresholds at 0.75x and 1.25x: no false signal, no pump missed or late."""
    s = evaluate(ALL, PumpConfig().scaled(scale))["summary"]
    assert s["false_signals"] == 0
    assert s["missed"] == 0 and s["max_delay_s"] <= 2.0


def test_events_file_scores_like_file_names() -> None:
    """Pump times from --events (matched by coin and span) give the same delays as file names."""
    by_name = evaluate(PUMPS, PumpConfig())["files"]
    by_events = evaluate(PUMPS, PumpConfig(), str(DATA / "pump_events_telegram_PDs.csv"))["files"]
    assert [r["delay_s"] for r in by_name] == [r["delay_s"] for r in by_events]
    assert all(r["pump_time"] for r in by_events)


@pytest.mark.perf
def test_evaluation_speed_floor() -> None:
    """Evaluation runs far faster than real time (the report gives the measured trades/s)."""
    s = evaluate(PUMPS[:2], PumpConfig())["summary"]
    assert s["trades_per_s"] > 30_000  # ~120-190k/s measured on one core; floor for a busy CI


def test_signal_in_a_file_without_pump_is_false(tmp_path: Path) -> None:
    """A pump file renamed without its time has no pump: its signal counts as false."""
    src = FIX / "binance_pump_trades_TSTBTC_2021-01-01T0000Z.csv"
    dst = tmp_path / "binance_TSTBTC_trades.csv"
    dst.write_bytes(src.read_bytes())
    s = evaluate([str(dst)], PumpConfig())["summary"]
    assert s["pumps"] == 0 and s["false_signals"] == 1 and not s["target_met"]


def test_cli_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    """``hope scanner eval --json`` prints the result; text shows a table; bad files are rows."""
    src = str(FIX / "binance_pump_trades_TSTBTC_2021-01-01T0000Z.csv")
    bad = str(FIX / "unknown_header.csv")
    assert main(["scanner", "eval", src, bad, "--json", "--threshold-scale", "1.25"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threshold_scale"] == 1.25 and out["summary"]["detected"] == 1
    assert out["config"]["min_delta_pct"] == PumpConfig().min_delta_pct * 1.25
    assert "unknown header" in out["files"][1]["note"]
    assert main(["scanner", "eval", src, "--signals"]) == 0
    text = capsys.readouterr().out
    assert "TSTBTC" in text and "signal " in text and "pumps 1, detected 1" in text
    assert main(["scanner", "eval", bad, "--check"]) == 1
    capsys.readouterr()
    assert main(["scanner", "eval", src, "--threshold-scale", "0"]) == 2


def test_same_real_data_and_config_give_the_same_signals() -> None:
    """Two evaluations of a real pump file give identical signal payloads."""
    first = evaluate(PUMPS[:1], PumpConfig())["files"][0]["signals"]
    second = evaluate(PUMPS[:1], PumpConfig())["files"][0]["signals"]
    assert first == second and len(first) == 1
