"""Scenario files and CLI flags of ``hope venue-sim``: parsed into settings and faults; a bad
one refuses to start (exit 78) naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hope.cli import build_parser, main
from hope.cli.venue_sim import build_scenario, load_keys
from hope.venue_sim.exchange_info import StatusChange
from hope.venue_sim.faults import StreamFault
from hope.venue_sim.scenario import ScenarioError, load
from hope.venue_sim.testing import generate_test_keys, steady_trades, write_trades

SCENARIO = """
[market]
speed = 10
rebase = true
[ws]
max_connection_age_s = 30.0
[rest]
weight_limit = 100
[status]
GVTBTC = "BREAK"
[[fault]]
kind = "drop"
symbol = "EVXBTC"
from_id = 500
[[fault]]
kind = "stall"
from_id = 700
seconds = 2.5
"""


def test_scenario_file_sets_everything(tmp_path: Path) -> None:
    """Every section of the file lands in the settings, faults in order."""
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    sc = load(path)
    assert (sc.market.speed, sc.market.rebase, sc.ws.max_connection_age_s,
            sc.rest.weight_limit) == (10.0, True, 30.0, 100)
    assert sc.status == {"GVTBTC": "BREAK"}
    assert sc.faults == [StreamFault("drop", 500, symbol="EVXBTC"),
                         StreamFault("stall", 700, seconds=2.5)]


@pytest.mark.parametrize("text, names", [
    ("[ws]\nping_every = 3\n", "ws.ping_every: unknown key"),
    ("[ws]\nmax_streams = \"many\"\n", "ws.max_streams: expected int"),
    ("[market]\nrebase = 1\n", "market.rebase: expected bool"),
    ("[[fault]]\nkind = \"explode\"\nfrom_id = 1\n", "fault[0]: unknown fault kind"),
    ("[[fault]]\nkind = \"drop\"\n", "fault[0]:"),
    ("[extras]\n", "[extras]: unknown section"),
    ("[market\n", "not valid TOML"),
    ("[trading]\ncommission_asset = \"bnb\"\n", "trading.commission_asset"),
    ("[trading]\nbalances = { BTC = \"lots\" }\n", "trading.balances.BTC"),
    ("[trading]\npartial_fills = 0\n", "trading.partial_fills"),
])
def test_bad_scenarios_name_the_key(tmp_path: Path, text: str, names: str) -> None:
    """A bad scenario raises ScenarioError naming the file and the key."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="bad.toml") as err:
        load(path)
    assert names in str(err.value)


def test_flags_override_the_file_and_add_faults(tmp_path: Path) -> None:
    """CLI flags apply on top of the scenario file; fault flags append faults."""
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    args = build_parser().parse_args([
        "venue-sim", "--scenario", str(path), "--speed", "2", "--skip-ids", "10-12",
        "--duplicate-ids", "20", "--stall-at", "30:1.5", "--shutdown-at", "40",
        "--max-connection-age", "5", "--weight-limit", "50"])
    sc = build_scenario(args)
    assert (sc.market.speed, sc.ws.max_connection_age_s, sc.rest.weight_limit) == (2.0, 5.0, 50)
    assert sc.faults[2:] == [StreamFault("shutdown", 40), StreamFault("skip", 10, 12),
                             StreamFault("duplicate", 20, 20),
                             StreamFault("stall", 30, seconds=1.5)]


@pytest.mark.parametrize("argv", [
    ["--skip-ids", "9-3"], ["--stall-at", "x"], ["--speed", "0"], ["--port", "70000"],
    ["--scenario", "/nonexistent/s.toml"], ["--keys", "/nonexistent/keys"],
    ["--balance", "BTC"], ["--balance", "BTC=-1"],
])
def test_bad_flags_exit_78(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A bad flag or scenario refuses to start with exit 78 and names it."""
    assert main(["venue-sim", *argv]) == 78
    assert "hope venue-sim" in capsys.readouterr().err


def test_no_trades_to_serve_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only bar files (or none readable): nothing to serve, exit 78 with the reason."""
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2021-01-01T00:00:00,1,1,1,1,1\n")
    assert main(["venue-sim", "--data", str(bars)]) == 78
    err = capsys.readouterr().err
    assert "holds bars" in err and "no trades to serve" in err


def test_status_flags_and_status_changes(tmp_path: Path) -> None:
    """--status SYMBOL=STATUS sets it at start, SYMBOL=STATUS@S schedules it; file entries too."""
    path = tmp_path / "s.toml"
    path.write_text('[[status_change]]\nsymbol = "EVXBTC"\nstatus = "HALT"\nat_s = 9\n')
    args = build_parser().parse_args(["venue-sim", "--scenario", str(path), "--status",
                                      "GVTBTC=UNLISTED", "--status", "GVTBTC=TRADING@30"])
    sc = build_scenario(args)
    assert sc.status == {"GVTBTC": "UNLISTED"}
    assert sc.status_changes == [StatusChange("EVXBTC", "HALT", 9.0),
                                 StatusChange("GVTBTC", "TRADING", 30.0)]


def test_unknown_status_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A status the venue does not have refuses to start, naming it."""
    data = write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(3))
    assert main(["venue-sim", "--data", str(data), "--status", "EVXBTC=SLEEPING"]) == 78
    assert "unknown status 'SLEEPING'" in capsys.readouterr().err


def test_trading_section_and_flags(tmp_path: Path) -> None:
    """[trading] sets the matching side; --balance replaces the starting balances and
    --commission-asset / --enable-withdrawals apply on top."""
    path = tmp_path / "s.toml"
    path.write_text('[trading]\nbalances = { BTC = "2", EVX = 5 }\nslippage_bps = 1.5\n'
                    'liquidity_window_s = 0\n')
    sc = load(path)
    assert sc.trading.balances == {"BTC": "2", "EVX": 5} and sc.trading.slippage_bps == 1.5
    args = build_parser().parse_args([
        "venue-sim", "--scenario", str(path), "--balance", "ETH=3", "--commission-asset",
        "base", "--enable-withdrawals"])
    sc = build_scenario(args)
    assert sc.trading.balances == {"ETH": "3"}
    assert (sc.trading.commission_asset, sc.trading.enable_withdrawals) == ("base", True)


def test_keys_flag_names_the_account(tmp_path: Path) -> None:
    """--keys DIR@ACCOUNT registers the key for that account; DIR alone for "main"."""
    a = generate_test_keys(tmp_path / "a").directory
    b = generate_test_keys(tmp_path / "b", "ed25519").directory
    keys = load_keys([str(a), f"{b}@second"])
    assert [(k.account, k.kind) for k in keys] == [("main", "HMAC_SHA256"),
                                                   ("second", "Ed25519")]
