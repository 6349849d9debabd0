"""The [scanner] config section: defaults load, bad values are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hope.config import ConfigError, load
from hope.market.config import ScannerConfig

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_load_and_name_the_six_pump_files(tmp_path: Path) -> None:
    """Without a config file the scanner replays the six pump files in data/."""
    cfg = load(None, tmp_path, {"scanner": {}})
    sc = cfg.scanner
    assert isinstance(sc, ScannerConfig)
    assert len(sc.replay.files) == 6 and all((ROOT / f).is_file() for f in sc.replay.files)
    assert sc.pump.min_buy_orders > 0 and sc.price_interval_s == 0.25


def test_nested_tables_override_defaults(tmp_path: Path) -> None:
    """[scanner.pump] and [scanner.replay] keys override single defaults."""
    toml = tmp_path / "hope.toml"
    toml.write_text("[scanner.pump]\nmin_delta_pct = 12\n[scanner.replay]\nspeed = 5\n")
    sc = load(toml, tmp_path).scanner
    assert sc.pump.min_delta_pct == 12.0 and sc.replay.speed == 5.0
    assert sc.pump.min_buy_orders == 4 and len(sc.replay.files) == 6


@pytest.mark.parametrize(("table", "key"), [
    ({"replay": {"speed": -1}}, "speed"),
    ({"pump": {"min_buy_share": 1.5}}, "min_buy_share"),
    ({"pump": {"window_s": 10.0, "baseline_s": 5.0}}, "baseline_s"),
    ({"trend": {"fast": 30, "slow": 20}}, "fast"),
    ({"strategies": ["pump", "astrology"]}, "strategies"),
    ({"pump": {"bogus": 1}}, "bogus"),
])
def test_bad_values_raise_config_error_naming_the_key(tmp_path: Path, table: dict,
                                                      key: str) -> None:
    """Every refused value names its key."""
    with pytest.raises(ConfigError, match=key):
        load(None, tmp_path, {"scanner": table})
