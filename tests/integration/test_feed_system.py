"""HOPE on the stand-in's live stream, end to end: ``hope venue-sim`` serves the recorded NAS/BTC
pump over Binance's protocol, the whole system runs under supervisord with
``[scanner] source = "binance"``.

Signals, decisions and paper orders happen on live data; the scanner's SIGNALs up to the pump
equal the playback of the same file (symbol, strategy, market_ts), and the pump's is the one
``hope scanner eval`` scores for the file; the scanner is SIGKILLed right
after the pump signal and restarted: nothing is missing on the tape (ids contiguous, each once)
and the pump is signalled once.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hope.config import load
from hope.market.config import PumpConfig
from hope.scanner.evaluate import evaluate_file, iso
from hope.scanner.service import ScannerRunner
from hope.testing import Supervisord, wait_for
from hope.venue_sim.testing import start_process
from tests.integration.pipeline_rig import PUMP_FILE, PUMP_T, Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

SPEED = 10.0
FIRST_TS = 1610485206.193        # the file's first trade
LIVE_FROM = PUMP_T - 90.0         # the stand-in's live stream starts 90 market s before the pump
UNTIL = PUMP_T + 60.0             # checked up to here

CONFIG = """\
[hope]
log_level = "info"

[audit]
trusted_keys = [{keys}]

[scanner]
source = "binance"
strategies = ["pump", "trend"]

[scanner.binance]
ws_url = "ws://127.0.0.1:{port}"
rest_url = "http://127.0.0.1:{port}"
symbols = ["NASBTC"]
flush_s = 0.05
stale_connection_s = 10.0

[health]
port = 0

[decision]
strategies_allowed = ["pump", "trend"]
min_buys_per_sec = 1.0
min_delta_pct = 2.0
cooldown_s = 0.0
max_market_skew_s = 1e10    # the stand-in serves 2021 timestamps (no --rebase-now)
timeout_s = 4.0
"""


PROGRAMS = ["proxy", "audit-writer", "executor", "decision-engine", "health-monitor",
            "scanner"]


class LiveRig(Pipeline):
    """The pipeline rig's state dir, keys and audit reading, with the live config; the system
    runs under supervisord rendered for the state dir."""

    port = 0
    sup: Supervisord | None = None

    def write_config(self, keys: list[str]) -> None:
        self.keys = keys
        self.config.write_text(CONFIG.format(keys=", ".join(f'"{k}"' for k in keys),
                                             port=self.port))

    def close(self) -> None:
        if self.sup is not None:
            self.sup.shutdown()
        super().close()


@pytest.fixture
def rig() -> Iterator[LiveRig]:
    r = LiveRig()
    try:
        yield r
    finally:
        r.close()


def tape_rows(tape: Path) -> list[tuple[int, float]]:
    out = []
    for p in sorted(tape.glob("*.csv.gz")):
        for line in gzip.decompress(p.read_bytes()).decode().splitlines()[1:]:
            f = line.split(",")
            out.append((int(f[1]), int(f[0]) / 1000.0))
    return out


def reference_signals(start_ts: float) -> list[tuple[str, str, float]]:
    """The scanner's playback of the file from ``start_ts`` with an hour of warm-up."""
    cfg = load(None, "/tmp/unused-state", overrides={"scanner": {
        "strategies": ["pump", "trend"],
        "replay": {"files": [str(PUMP_FILE)], "start_ts": start_ts, "speed": 0.0,
                   "warmup_s": 3600.0}}}).scanner
    out: list[dict] = []

    async def publish(kind: str, payload: dict) -> None:
        if kind == "SIGNAL":
            out.append(payload)

    import asyncio
    asyncio.run(ScannerRunner(cfg, publish).run_once())
    return [(p["symbol"], p["strategy"], p["market_ts"]) for p in out]


def test_live_system_on_the_stand_in_parity_and_sigkill(rig: LiveRig) -> None:
    """Live signals equal the playback's, decisions and paper orders follow, a SIGKILL of the
    scanner mid-pump (supervisord restarts it) loses no trade and signals the pump once."""
    rig.port = start_process(rig.procs, "venue", [
        "--data", str(PUMP_FILE), "--speed", str(SPEED), "--skip", str(LIVE_FROM - FIRST_TS),
        "--start-delay", "8"], rig.state / "venue.port")
    rig.write_config(rig.keys)
    rig.sup = Supervisord(rig.state, {"HOPE_CONFIG": str(rig.config)}, programs=PROGRAMS)
    rig.sup.start()
    wait_for(lambda: rig.sup.running(PROGRAMS), timeout=60, message="every program RUNNING")

    def pump_signals() -> list[dict]:
        return [r["payload"] for r in rig.records("signals")
                if r["payload"]["strategy"] == "pump"]

    wait_for(pump_signals, timeout=60, message="the pump SIGNAL")
    pid = rig.sup.running_pid("scanner")
    os.kill(pid, signal.SIGKILL)                    # mid-pump; supervisord restarts it
    log = (rig.state / "logs" / "scanner.log").read_text()
    m = re.search(r'"warm_until": (\{[^}]*\})', log)
    assert m, "the scanner logged where its warm-up ended"
    warm_until = json.loads(m.group(1))["NASBTC"]
    wait_for(lambda: rig.sup.status()["scanner"][1] not in (0, pid), timeout=30,
             message="supervisord to restart the scanner")
    tape = rig.state / "tape" / "NASBTC"
    wait_for(lambda: (rows := tape_rows(tape)) and rows[-1][1] >= UNTIL, timeout=60,
             message="the tape to reach the end of the checked span")

    rows = tape_rows(tape)
    ids = [i for i, _ in rows]
    assert ids == list(range(ids[0], ids[-1] + 1)), "tape ids contiguous, each once, in order"
    assert len(pump_signals()) == 1, "the pump signalled once across the SIGKILL"
    restored = [json.loads(line) for line in
                (rig.state / "logs" / "scanner.log").read_text().splitlines()
                if "feed_cooldowns_restored" in line and line.startswith("{")]
    assert restored[-1]["signals"] >= 1, "the restarted scanner restored the pump's cooldown"

    first_live_ts = next(ts for i, ts in rows if i == warm_until + 1)
    pump_ts = pump_signals()[0]["market_ts"]
    want = [s for s in reference_signals(first_live_ts) if s[2] <= pump_ts]
    got = sorted({(p["symbol"], p["strategy"], p["market_ts"]) for p in
                  (r["payload"] for r in rig.records("signals")) if p["market_ts"] <= pump_ts},
                 key=lambda s: s[2])
    assert got == want and any(s[1] == "pump" for s in want)
    scored = evaluate_file(str(PUMP_FILE), PumpConfig())[0]   # what `hope scanner eval` says
    assert scored.detected == iso(pump_ts)

    wait_for(lambda: rig.count("orders") >= 1, timeout=30, message="a paper ORDER")
    assert rig.count("decisions") >= len(got)
    kinds = {r["payload"]["kind"] for r in rig.records("system")
             if r.get("event_type") == "FEED"}
    assert {"connected", "id_gap", "backfilled"} <= kinds

    # What an operator sees: the feed on /metrics and in `hope status`.
    port = wait_for(lambda: json.loads((rig.state / "run" / "registry.json").read_text())
                    .get("monitor", {}).get("http_port"), message="monitor port")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()

    wait_for(lambda: 'hope_feed_connection_up{connection="0",service="scanner"} 1.0' in scrape(),
             message="feed connection on /metrics")
    assert "hope_feed_symbol_last_trade_age_seconds" in scrape()
    status = rig.hope("status")
    assert "feed (scanner): 1/1 connections up" in status.stdout, status.stdout
