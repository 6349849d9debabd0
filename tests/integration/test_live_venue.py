"""The whole system trading on the stand-in exchange (``hope venue-sim``) with
``[execution] exchange = "binance"``: real processes under supervisord, the live feed, a real
pump.

HOPE starts before the venue: reconciliation fails (one ALERT, the report in the audit log,
the venue breaker open) and passes by itself once the venue is up; the first start on the venue
stays HALTED until the operator resumes. The pump's BUY goes to the venue, which places it and
holds the reply (its hold knob); the executor is SIGKILLed then, before any reply. After the
restart, counted from the stand-in's own books: one venue BUY, one ORDER NEW, no resubmission;
its FILL carries the venue's trade ids, the exit SELL's CLOSE the venue's fills and fees. Raw
venue replies and reconciliation reports are in the audit log, with no key or signature.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hope.supervisor_conf import render
from hope.testing import REPO, Processes, Supervisord, audit_records, short_tmpdir, wait_for
from hope.venue_sim.testing import VenueTestKeys, generate_test_keys

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PUMP_FILE = REPO / "data" / "binance_pump_trades_NASBTC_2021-01-14T2100Z.csv.gz"
PUMP_T = 1610658000.0
FIRST_TS = 1610485206.193        # the file's first trade
SPEED = 10.0
LIVE_FROM = PUMP_T - 60.0        # the live stream starts 60 market s before the pump
START_DELAY_S = 22.0             # wall s from the venue's start to its stream: reconcile, resume
HOPE = REPO / ".venv" / "bin" / "hope"
PROGRAMS = ["proxy", "audit-writer", "executor", "decision-engine", "health-monitor",
            "scanner"]

CONFIG = """\
[hope]
log_level = "info"

[audit]
trusted_keys = [{keys}]

[scanner]
source = "binance"
strategies = ["pump"]

[scanner.binance]
ws_url = "ws://127.0.0.1:{port}"
rest_url = "http://127.0.0.1:{port}"
symbols = ["NASBTC"]
flush_s = 0.05
stale_connection_s = 10.0
backoff_max_s = 2.0

[execution]
exchange = "binance"

[execution.binance]
rest_url = "http://127.0.0.1:{port}"
ws_api_url = "ws://127.0.0.1:{port}/ws-api/v3"
resolve_interval_s = 0.5
reconcile_retry_s = 2.0

[health]
port = 0

[decision]
strategies_allowed = ["pump"]
min_buys_per_sec = 1.0
min_delta_pct = 2.0
cooldown_s = 0.0
max_market_skew_s = 1e10    # the stand-in serves 2021 timestamps
timeout_s = 4.0
"""


class Rig:
    def __init__(self) -> None:
        self.state = short_tmpdir("hope-lv-")
        self.config = self.state / "hope.toml"
        self.port = 0
        self.write_config([])
        from hope.cli import main as hope_main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = hope_main(["keys", "init", "--state-dir", str(self.state),
                            "--config", str(self.config)])
        m = re.search(r"key id: (ed25519:[0-9a-f]+)", out.getvalue())
        assert rc == 0 and m, f"hope keys init failed:\n{out.getvalue()}"
        self.keys = [m.group(1)]
        self.procs = Processes(self.state, env={"HOPE_CONFIG": str(self.config)})
        self.sup: Supervisord | None = None

    def write_config(self, keys: list[str]) -> None:
        self.config.write_text(CONFIG.format(keys=", ".join(f'"{k}"' for k in keys),
                                             port=self.port))

    def hope(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOPE_CONFIG": str(self.config)}
        return subprocess.run([str(HOPE), *args, "--state-dir", str(self.state)], env=env,
                              capture_output=True, text=True, timeout=60)

    def records(self, family: str, event_type: str | None = None) -> list[dict[str, Any]]:
        return [r for r in audit_records(self.state, family)
                if event_type is None or r.get("event_type") == event_type]

    def sim(self, what: str, body: dict[str, Any] | None = None, timeout: float = 5) -> Any:
        """The stand-in's own endpoints (``/sim/v1``): its books, its fault knobs."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/sim/v1/{what}", data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def close(self) -> None:
        if self.sup is not None:
            self.sup.shutdown()
        self.procs.kill_all()
        if not os.environ.get("HOPE_TEST_KEEP_STATE"):  # set it to inspect a failed run
            shutil.rmtree(self.state, ignore_errors=True)


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def venue_status(rig: Rig) -> dict[str, Any] | None:
    try:
        return json.loads((rig.state / "venue" / "status.json").read_text())
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_venue(rig: Rig, keys: VenueTestKeys) -> None:
    """``hope venue-sim`` on the port the config names (so it can start after HOPE)."""
    port_file = rig.state / "venue.port"
    proc = rig.procs.start("venue", [
        "-c", "import sys; from hope.cli import main; sys.exit(main())", "venue-sim",
        "--data", str(PUMP_FILE), "--speed", str(SPEED), "--skip", str(LIVE_FROM - FIRST_TS),
        "--start-delay", str(START_DELAY_S), "--keys", str(keys.directory), "--port", str(rig.port),
        "--port-file", str(port_file)])
    wait_for(lambda: proc.poll() is None and port_file.exists() and port_file.read_text(),
             timeout=30, message="venue-sim to listen")


def test_pump_to_venue_order_kill_between_send_and_reply_then_close(rig: Rig) -> None:
    """Venue unreachable: reconciliation fails (ALERT, breaker open); the venue up: it passes;
    first start HALTED until resumed; the pump's BUY is sent, the executor killed before the
    reply; after the restart one venue BUY, one ORDER NEW, its FILL, a CLOSE with the fees."""
    keys = generate_test_keys(rig.state)
    rig.port = free_port()
    rig.write_config(rig.keys)
    conf = render(rig.state, programs=PROGRAMS)
    text = conf.read_text()
    section = text.index("[program:scanner]")
    conf.write_text(text[:section] + text[section:].replace("autostart=true",
                                                             "autostart=false", 1))
    rig.sup = Supervisord(rig.state, {"HOPE_CONFIG": str(rig.config)}, conf=conf)
    rig.sup.start()
    wait_for(lambda: rig.sup.running([p for p in PROGRAMS if p != "scanner"]), timeout=90,
             message="every program RUNNING")

    # the venue unreachable: reconciliation fails, breaker open with the reason, one ALERT
    failed = wait_for(lambda: (s := venue_status(rig)) and s["breaker"]["state"] == "open"
                      and s, timeout=40, message="the first reconciliation to fail")
    assert "could not connect" in failed["breaker"]["reason"]
    wait_for(lambda: [a for a in rig.records("system", "ALERT")
                      if a["payload"]["kind"] == "reconciliation_failed"], timeout=30,
             message="ALERT reconciliation_failed in the audit log")

    # the venue up (its stream starts START_DELAY_S later): the next reconciliation passes
    start_venue(rig, keys)
    assert "started" in rig.sup.ctl("start", "hope:scanner")
    wait_for(lambda: (venue_status(rig) or {}).get("breaker", {}).get("state") == "closed",
             timeout=30, message="a reconciliation to pass")
    # first start on a live venue: HALTED until the operator resumes
    assert json.loads((rig.state / "trading_state").read_text())["state"] == "HALTED"
    assert rig.hope("trading", "resume").returncode == 0
    log = rig.state / "logs" / "executor.log"
    pid = rig.sup.running_pid("executor")   # asked before: supervisorctl takes its time
    assert json.loads(rig.hope("trading", "status", "--json").stdout)["state"] == "ACTIVE"
    shown = rig.hope("venue", "status")
    assert shown.returncode == 0 and "breaker: closed" in shown.stdout, shown.stdout
    reports = [r["payload"] for r in rig.records("system", "RECONCILIATION")]
    assert not reports[0]["passed"] and reports[-1]["passed"]

    # the pump's BUY is placed at the venue, which holds its reply; SIGKILL, then the reply is
    # dropped: the executor never learns the outcome before it dies
    rig.sim("trading-fault", {"kind": "hold", "count": 1, "when": "after"})
    held = wait_for(lambda: rig.sim("held?wait_s=5", timeout=10)["held"], timeout=60,
                    interval=0.01, message="the pump's BUY held at the venue")
    os.kill(pid, signal.SIGKILL)
    assert rig.sim("release", {"action": "drop"})["released"] == 1
    sent = wait_for(lambda: re.search(r'"order_id": "(hope-[0-9a-f]+)"[^\n]*"order sending"',
                                      log.read_text()), message="the executor's log of the send")
    assert sent.group(1) == held[0]["clientOrderId"]
    cid = sent.group(1)
    assert not [o for o in rig.records("orders") if o["payload"]["order_id"] == cid], \
        "killed before any ORDER for it"
    wait_for(lambda: rig.sup.status()["executor"][1] not in (0, pid), timeout=30,
             message="supervisord to restart the executor")

    closes = wait_for(lambda: [c for c in rig.records("closes")
                               if c["payload"]["order_id"] == cid], timeout=60,
                      message="the position's CLOSE")
    books = rig.sim("orders")["orders"]
    buys = [o for o in books if o["clientOrderId"] == cid]
    sells = [o for o in books if o["clientOrderId"] == cid + "-x"   # HOPE's exit, or
             or o["clientOrderId"].startswith(cid + "-s") and float(o["executedQty"]) > 0]
    # ... the protective stop that sold first: one SELL either way
    assert len(buys) == 1 and buys[0]["status"] == "FILLED", books
    assert len(sells) == 1, books
    orders = [o["payload"] for o in rig.records("orders") if o["payload"]["order_id"] == cid]
    assert [o["status"] for o in orders if o["status"] != "UNKNOWN"] == ["NEW"], orders
    assert len([o for o in orders if o["status"] == "UNKNOWN"]) <= 1
    assert orders[-1]["venue_order_id"] == buys[0]["orderId"]
    (fill,) = [f["payload"] for f in rig.records("fills") if f["payload"]["order_id"] == cid]
    assert fill["trade_ids"] == [t["tradeId"] if "tradeId" in t else t["id"]
                                 for t in buys[0]["fills"]]
    (close,) = [c["payload"] for c in closes]
    assert close["exit_venue_order_id"] == sells[0]["orderId"] and close["fees"] > 0
    assert close["exit_trade_ids"] == [t.get("tradeId", t.get("id")) for t in sells[0]["fills"]]
    assert close["reason"] in ("timeout", "stop_loss", "take_profit")  # whichever came first

    # the SELL that closed it (HOPE's exit, or the protective stop placed after the fill) was
    # POSTed and its reply audited; the CLOSE can come from the stream before that reply
    exit_cid = sells[0]["clientOrderId"]

    def replies_with_exit() -> list[dict[str, Any]] | None:
        found = [r["payload"] for r in rig.records("system", "VENUE_REPLY")]
        return found if [r for r in found if r["method"] == "POST"
                         and r["params"].get("newClientOrderId") == exit_cid] else None
    replies = wait_for(replies_with_exit, timeout=30, message="the exit SELL's VENUE_REPLY")
    reports = [r["payload"] for r in rig.records("system", "RECONCILIATION")]
    assert reports[-1]["passed"] and len(reports) >= 3
    text = json.dumps(replies)
    assert keys.api_key not in text and keys.secret not in text and "signature" not in text
    # the restarted executor asked (GET by origClientOrderId) and never sent the BUY again
    assert any(r["method"] == "GET" and r["params"].get("origClientOrderId") == cid
               for r in replies)
    assert not [r for r in replies if r["method"] == "POST"
                and r["params"].get("newClientOrderId") == cid]


def test_a_key_file_readable_by_others_refuses_the_executor_with_78(tmp_path: Path) -> None:
    """The executor process exits 78 naming the key file (mode 0644), never its content."""
    keys = generate_test_keys(tmp_path)
    (keys.directory / "secret").chmod(0o644)
    config = tmp_path / "hope.toml"
    config.write_text('[execution]\nexchange = "binance"\n[execution.binance]\n'
                      'rest_url = "http://127.0.0.1:9"\n')
    env = {**os.environ, "HOPE_CONFIG": str(config), "HOPE_STATE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, str(REPO / "services" / "executor.py")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 78, out.stdout + out.stderr
    assert str(keys.directory / "secret") in out.stderr and "0644" in out.stderr
    assert keys.secret not in out.stdout + out.stderr
