"""``scripts/chaos --venue``: the whole system trading on the stand-in venue, under fire.

1. A temp state dir, generated test keys, ``hope venue-sim`` as a real process serving the
   recorded pumps live (the load: every pump and its aftermath, many symbols), HOPE under
   supervisord with ``[execution] exchange = "binance"`` and thresholds that BUY often; the
   first start is HALTED, the operator resumes once reconciliation passed.
2. Kill points, BUYs and exits alike: the executor SIGKILLed before the send and after the
   reply before the ledger write (crash points, :mod:`hope.crashpoints`), and after the send
   before the reply (the stand-in holds the reply; ``/sim/v1/held`` says when; SIGKILL; then
   the reply is released to a dead client). Faults: a 5xx reply, ``-1007``, ``-2013`` for a
   while after placement, the user stream cut, the market stream cut, a halt under load.
3. Settle (halt, the stand-in's market closed, every venue order accounted for), a graceful
   shutdown, then the table (:mod:`hope.chaos.venue_books`), counted from the stand-in's books;
   exit 1 unless it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from hope.chaos.venue_books import (
    VenueTable,
    compute_venue_table,
    entry_of,
    forbidden_windows,
    is_exit_sell,
)
from hope.chaos.venue_steps import STEPS
from hope.chaos.venue_table import render
from hope.crashpoints import ENV as CRASH_ENV
from hope.execution.positions import ExecutorStore
from hope.execution.records import PendingOrder
from hope.supervisor_conf import render as render_conf
from hope.testing import REPO, Processes, Supervisord, audit_records, short_tmpdir, wait_for
from hope.trading.ids import client_order_id
from hope.venue_sim.keys import generate_test_keys
from hope.venue_sim.sim_client import SimAdmin

EX_PREREQ = 3
PROGRAMS = ["proxy", "audit-writer", "executor", "decision-engine", "health-monitor",
            "scanner"]
PUMPS = ["EVXBTC_2021-01-09T2100Z", "GVTBTC_2021-01-23T2100Z", "IDEXBTC_2020-12-31T1700Z",
         "NASBTC_2021-01-14T2100Z", "RCNBTC_2021-01-07T2100Z", "VIBBTC_2021-09-05T1700Z"]
SKIP_S = 172_680.0      # market s after each file's first trade: ~2 min before most pumps
INITIAL = {"BTC": Decimal("1.0")}
FAMILIES = ("signals", "decisions", "orders", "fills", "closes", "system")

CONFIG = """\
[hope]
log_level = "info"

[audit]
trusted_keys = ["{key}"]

[scanner]
source = "binance"
strategies = ["pump"]

[scanner.binance]
ws_url = "ws://127.0.0.1:{port}"
rest_url = "http://127.0.0.1:{port}"
symbols = [{symbols}]
flush_s = 0.05
backoff_max_s = 1.0

[scanner.pump]
min_buy_orders = 2
min_delta_pct = 1.0
min_volume_ratio = 1.0
baseline_s = 600.0
confirm_s = 5.0
cooldown_s = 20.0

[execution]
exchange = "binance"

[execution.binance]
rest_url = "http://127.0.0.1:{port}"
ws_api_url = "ws://127.0.0.1:{port}/ws-api/v3"
resolve_interval_s = 0.5
reconcile_retry_s = 1.0
reconcile_interval_s = {reconcile_s}
unknown_grace_s = 4.0

[health]
port = 0

[decision]
strategies_allowed = ["pump"]
min_buys_per_sec = 0.5
min_delta_pct = 1.0
cooldown_s = 0.0
max_open_positions = 12
max_buys_per_min = 100000
max_market_skew_s = 1e10
max_signal_age_s = 1e10
timeout_s = {hold_s}
stop_loss_pct = {stop_loss_pct}
"""


class ChaosError(RuntimeError):
    pass


class VenueRun:
    """One run: the processes, the stand-in's admin client, what was done and when."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.t0 = time.monotonic()
        self.run_start_us = int(time.time() * 1e6)
        self.state = short_tmpdir("hope-cv-")
        self.crash_dir = self.state / "chaos-crash"
        self.config = self.state / "hope.toml"
        self.env = {"HOPE_CONFIG": str(self.config), CRASH_ENV: str(self.crash_dir)}
        self.procs = Processes(self.state, env=self.env)
        self.sup: Supervisord | None = None
        self.sim: SimAdmin | None = None
        self.kills_us: list[int] = []
        self.results: list[dict[str, Any]] = []
        self.extra_venue_args: list[str] = []   # e.g. a second account's keys (the bench)
        self.port = 0

    def log(self, msg: str) -> None:
        print(f"[chaos-venue {time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)

    # --- set-up ------------------------------------------------------------------------------
    def hope(self, *args: str, timeout: float = 60.0) -> str:
        out = subprocess.run([str(REPO / ".venv" / "bin" / "hope"), *args, "--state-dir",
                              str(self.state)], env={**os.environ, **self.env},
                             capture_output=True, text=True, timeout=timeout, cwd=REPO)
        if out.returncode != 0:
            raise ChaosError(f"hope {' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout

    def start(self) -> None:
        self.config.write_text("")
        key = re.search(r"key id: (ed25519:[0-9a-f]+)", self.hope("keys", "init"))
        if not key:
            raise ChaosError("hope keys init printed no key id")
        keys = generate_test_keys(self.state)
        symbols = [p.split("_")[0] for p in PUMPS[: self.args.venue_symbols]]
        files = [str(REPO / "data" / f"binance_pump_trades_{p}.csv.gz")
                 for p in PUMPS[: self.args.venue_symbols]]
        port_file = self.state / "venue.port"
        self.procs.start("venue", [
            "-c", "import sys; from hope.cli import main; sys.exit(main())", "venue-sim",
            "--data", *files, "--speed", str(self.args.speed), "--skip", str(SKIP_S), "--rebase-now",
            "--start-delay", str(self.args.start_delay), "--keys", str(keys.directory),
            "--port", "0", "--port-file", str(port_file), *self.extra_venue_args])
        self.port = port = int(wait_for(lambda: port_file.exists() and port_file.read_text().strip(),
                            timeout=60, message="venue-sim to listen"))
        self.sim = SimAdmin(port)
        self.config.write_text(CONFIG.format(
            key=key.group(1), port=port, symbols=", ".join(f'"{s}"' for s in symbols),
            reconcile_s=self.args.reconcile_s, hold_s=self.args.hold_s,
            stop_loss_pct=self.args.stop_loss_pct))
        self.sup = Supervisord(self.state, self.env, conf=render_conf(self.state,
                                                                      programs=PROGRAMS))
        self.sup.start()
        wait_for(lambda: self.sup.running(PROGRAMS), timeout=120,
                 message="every program RUNNING")
        wait_for(lambda: self.gate() == "closed", timeout=60,
                 message="the first reconciliation to pass")
        self.hope("trading", "resume")  # the operator, once reconciliation passed
        self.log(f"HOPE up on the stand-in (port {port}), reconciled, resumed")

    # --- observation ---------------------------------------------------------------------------
    def gate(self) -> str | None:
        try:
            status = json.loads((self.state / "venue" / "status.json").read_text())
        except (OSError, ValueError):
            return None
        return (status.get("breaker") or {}).get("state")

    def records(self) -> list[dict[str, Any]]:
        return [r for fam in FAMILIES for r in audit_records(self.state, fam)]

    def executor_pid(self) -> int:
        return self.sup.status().get("executor", ("", 0))[1]

    def kill_executor(self, pid: int | None = None) -> int:
        # once RUNNING: a pid of 0 would make os.kill signal our own process group
        pid = pid or self.sup.running_pid("executor")
        self.kills_us.append(int(time.time() * 1e6))
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, old_pid: int) -> None:
        wait_for(lambda: self.executor_pid() not in (0, old_pid), timeout=60,
                 message="supervisord to restart the executor")

    def wait(self, pred: Callable[[], Any], timeout: float, what: str) -> Any:
        return wait_for(pred, timeout=timeout, interval=0.1, message=what)

    # --- the run -------------------------------------------------------------------------------
    def steps(self) -> None:
        chosen = [s for s in STEPS if self.args.full or s.short]
        for step in chosen:
            t = time.monotonic()
            try:
                detail = step.run(self)
                ok = True
            except (AssertionError, TimeoutError, ChaosError) as exc:
                detail, ok = f"FAILED: {exc}"[:300], False
                self.disarm()
            self.results.append({"step": step.name, "ok": ok, "detail": detail,
                                 "seconds": round(time.monotonic() - t, 1)})
            self.log(f"{step.name}: {'ok' if ok else 'FAILED'} ({detail})")

    def disarm(self) -> None:
        """After a failed step: no knob, hold or crash point left to hit a later one."""
        self.sim.fault("clear")
        self.sim.fault("not_found", ms=0)
        self.sim.release(action="reply")
        for armed in self.crash_dir.glob("*"):
            armed.unlink(missing_ok=True)

    def settle(self) -> None:
        """Halt (no new BUY, no automatic exit) and close the stand-in's market, then wait until
        every BUY DECISION has its terminal ORDER and every venue order is accounted for in the
        audit log (a terminal ORDER, a CLOSE).

        Closed, because protective stops rest at the venue whether HOPE runs or not: one the
        market reached after the last look, or after HOPE stopped, would be a sale at the venue
        that HOPE could only book at its next start, and the books would not match the log."""
        self.hope("trading", "halt")
        published = self.sim.close_market()
        self.log(f"market closed at {sum(published.values())} trades")
        deadline = time.monotonic() + self.args.settle
        while time.monotonic() < deadline:
            if not self.unaccounted():
                return
            time.sleep(0.5)
        self.log(f"still unaccounted after settling: {self.unaccounted()[:5]}")

    def unaccounted(self) -> list[str]:
        records = self.records()
        terminal = {r["payload"]["order_id"] for r in records if r.get("event_type") == "ORDER"
                    and r["payload"].get("status") != "UNKNOWN"}
        closed = {r["payload"]["order_id"] for r in records if r.get("event_type") == "CLOSE"}
        filled = {r["payload"]["order_id"] for r in records if r.get("event_type") == "FILL"}
        out = [cid for cid in (client_order_id(r["event_id"]) for r in records
                               if r.get("event_type") == "DECISION"
                               and r["payload"].get("action") == "BUY") if cid not in terminal]
        for o in self.sim.orders():
            cid = o["clientOrderId"]
            if is_exit_sell(cid):  # the -x SELL or a protective stop: traded → a CLOSE
                if entry_of(cid) not in closed and o["status"] in ("FILLED", "PARTIALLY_FILLED"):
                    out.append(cid)
            elif cid not in terminal or (o["status"] == "FILLED" and cid not in filled):
                out.append(cid)
        return out

    def open_ids(self) -> set[str]:
        """What HOPE reports open: the executor ledger's positions and unresolved intents."""
        store = ExecutorStore(self.state / "positions")
        store.open()
        try:
            pending = {cid for cid, rec in store.orders.items() if isinstance(rec, PendingOrder)}
            return set(store.positions) | pending
        finally:
            store.close()

    def table(self) -> VenueTable:
        books = {"orders": self.sim.orders(), "trades": self.sim.trades(),
                 "accounts": self.sim.accounts()}
        records = self.records()
        assets_of = {}
        for o in books["orders"]:
            s = o["symbol"]
            assets_of[s] = (s.removesuffix("BTC"), "BTC")
        windows = forbidden_windows(records, run_start_us=self.run_start_us,
                                    kills_us=self.kills_us)
        return compute_venue_table(books, records, initial=INITIAL, account="main",
                                   assets_of=assets_of, open_ids=self.open_ids(),
                                   windows=windows)

    def close(self) -> None:
        if self.sup is not None:
            self.sup.shutdown(timeout=90)
        self.procs.kill_all()
        if not self.args.keep:
            shutil.rmtree(self.state, ignore_errors=True)
        else:
            self.log(f"state kept in {self.state}")


def run(args: argparse.Namespace) -> int:
    r = VenueRun(args)
    table: VenueTable | None = None
    try:
        r.start()
        r.steps()
        r.settle()
        r.sup.shutdown(timeout=90)  # sealed, flushed: the ledger and the audit log at rest
        r.sup = None
        table = r.table()
    except (ChaosError, TimeoutError, AssertionError) as exc:
        r.log(f"FAILED: {exc}")
        return EX_PREREQ
    finally:
        if table is not None:
            text = render(table, r.results, time.monotonic() - r.t0)
            print(text, flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(
                    {"ok": table.ok and all(s["ok"] for s in r.results),
                     "problems": table.problems, "steps": r.results,
                     "table": table.__dict__}, indent=2, default=str))
        r.close()
    return 0 if table.ok and all(s["ok"] for s in r.results) else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--venue (the live venue under fire)")
    g.add_argument("--venue", action="store_true", help="run on the stand-in venue")
    g.add_argument("--full", action="store_true",
                   help="--venue: every step (the default unless --short)")
    g.add_argument("--speed", type=float, default=10.0, help="--venue: market speed")
    g.add_argument("--start-delay", type=float, default=15.0,
                   help="--venue: wall s before the stand-in's stream starts")
    g.add_argument("--reconcile-s", type=float, default=8.0,
                   help="--venue: periodic reconciliation interval")
    g.add_argument("--hold-s", type=float, default=3.0,
                   help="--venue: position timeout (market s; the stand-in serves wall time)")
    g.add_argument("--stop-loss-pct", type=float, default=3.0,
                   help="--venue: [decision] stop_loss_pct (where the protective stops sit; "
                        "3, HOPE's default, lets them trade in the pumps' aftermath)")
    g.add_argument("--venue-symbols", dest="venue_symbols", type=int, default=6,
                   help="--venue: how many recorded pumps to serve")
