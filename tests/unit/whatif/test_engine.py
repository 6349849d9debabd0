"""hope replay: sources (audit, v1 file, market data), candidate decisions, flips, paper P&L, CLI.

(tests/unit/market/test_playback.py covers hope.market.playback; this file covers hope.whatif.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hope.cli import main
from hope.envelope import new_event
from hope.testing import make_config
from hope.whatif.engine import ReplayEngine, format_result
from hope.whatif.sources import SourceError, load, parse_time
from tests.helpers import T0, decision, signal, ts, write_audit

REPO = Path(__file__).resolve().parents[3]


def price(symbol: str, p: float, t: float):
    return new_event("PRICE", {"symbol": symbol, "price": p, "market_ts": t}, source="scanner",
                     timestamp=ts(t))


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """An audit log: EVX recorded SKIP (halted), then rises 10%; GVT recorded BUY."""
    s1, s2 = signal("EVXBTC", 1e-05, T0 + 1), signal("GVTBTC", 2e-05, T0 + 3)
    write_audit(tmp_path / "events", "prices", [
        price("EVXBTC", 1e-05, T0), price("EVXBTC", 1.1e-05, T0 + 2), price("GVTBTC", 2e-05, T0 + 3),
        price("GVTBTC", 1.99e-05, T0 + 4)])
    write_audit(tmp_path / "events", "signals", [s1, s2])
    write_audit(tmp_path / "events", "decisions", [
        decision(s1, "SKIP", [{"rule": "trading_state", "detail": "trading state HALTED"}]),
        decision(s2, "BUY")])
    return tmp_path


async def _run(state: Path, overrides=None, source="audit", start=None, end=None, **kw):
    config = make_config(state, overrides)
    timeline = (await load(config, source)).finish(start, end)
    return await ReplayEngine(config, state / "work", **kw).run(timeline)


async def test_flips_both_ways_with_reasons_and_paper_pnl(recorded: Path):
    """A tighter config turns a recorded BUY into SKIP naming the rule; P&L comes from the paper run."""
    res = await _run(recorded, {"decision": {"blacklist": ["GVTBTC"]}})
    assert res.signals == 2 and res.prices == 4
    assert dict(res.candidate) == {"BUY": 1, "SKIP": 1}
    flips = {f.symbol: f for f in res.flips}
    assert (flips["EVXBTC"].recorded, flips["EVXBTC"].candidate) == ("SKIP", "BUY")
    assert flips["EVXBTC"].recorded_reasons == ["trading_state: trading state HALTED"]
    assert (flips["GVTBTC"].recorded, flips["GVTBTC"].candidate) == ("BUY", "SKIP")
    assert flips["GVTBTC"].candidate_reasons == ["blacklist: GVTBTC is blacklisted"]
    # EVX bought at ~1e-05, the next PRICE (+10%) passes take-profit: one winning close
    assert res.pnl["BTC"]["closes"] == 1 and res.pnl["BTC"]["wins"] == 1
    assert res.pnl["BTC"]["pnl"] > 0 and dict(res.orders) == {"NEW": 1}
    text = format_result(res)
    assert "SKIP→BUY" in text and "blacklist: GVTBTC is blacklisted" in text


async def test_same_config_keeps_the_recorded_buy(recorded: Path):
    """With the live rules GVT stays a BUY, is held open and reported with unrealized P&L."""
    res = await _run(recorded, {"decision": {"blacklist": ["EVXBTC"]}})
    assert [f.symbol for f in res.flips] == []  # EVX: SKIP→SKIP, GVT: BUY→BUY
    (pos,) = res.open_positions
    assert pos["symbol"] == "GVTBTC" and pos["unrealized_pnl"] < 0


async def test_time_window_limits_what_is_replayed(recorded: Path):
    """--from/--to keep only events whose market time lies inside the window."""
    res = await _run(recorded, start=T0 + 2.5, end=T0 + 10)
    assert res.signals == 1 and res.prices == 2


async def test_speed_paces_on_market_time(recorded: Path):
    """At speed 2 each market-time step is slept for half as long (gaps capped)."""
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)
    await _run(recorded, speed=2.0, sleep=fake_sleep)
    assert sleeps == [0.5, 0.5, 0.5, 0.5]


async def test_v1_event_file_is_upcast_and_bad_lines_are_counted(tmp_path: Path):
    """Legacy v1 lines decode through the codec (upcast); a bad line is a file:line warning."""
    src = tmp_path / "legacy.jsonl"
    src.write_text((REPO / "tests/fixtures/v1/events_v1.jsonl").read_text() + "{oops\n"
                   + json.dumps({"event_type": "SIGNAL", "payload": {}}) + "\n")
    res = await _run(tmp_path, source=str(src))
    assert res.signals == 1 and res.recorded == {"SKIP": 1}
    assert any(w.startswith(f"{src}:3:") for w in res.warnings)
    assert any(w.startswith(f"{src}:4:") for w in res.warnings)


async def test_market_data_file_runs_through_the_strategies(tmp_path: Path):
    """A trades file goes through the scanner strategies; the pump signal is decided and traded."""
    src = REPO / "tests/fixtures/market/binance_pump_trades_TSTBTC_2021-01-01T0000Z.csv"
    res = await _run(tmp_path, source=str(src))
    assert res.signals >= 1 and res.prices > 0 and res.recorded == {"none": res.signals}
    assert res.candidate["BUY"] >= 1


async def test_unreadable_sources_raise_source_error(tmp_path: Path):
    """A missing file or a missing audit log is a SourceError naming it."""
    config = make_config(tmp_path)
    with pytest.raises(SourceError, match="no such file"):
        await load(config, str(tmp_path / "nope.jsonl"))
    with pytest.raises(SourceError, match="bad time"):
        parse_time("yesterday")
    assert parse_time("2021-01-09T21:00:00Z") == 1610226000.0


def test_cli_prints_json_and_fails_cleanly(recorded: Path, capsys):
    """`hope replay --json` prints the result; an absent source exits 1 with a message."""
    assert main(["replay", "--state-dir", str(recorded), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["signals"] == 2 and out["candidate"] == {"BUY": 2}
    assert main(["replay", "--state-dir", str(recorded), "--source", "/nope.csv"]) == 1
    assert "no such file" in capsys.readouterr().err
