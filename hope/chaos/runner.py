"""``scripts/chaos`` / ``python -m hope.chaos``: the chaos run under load, bounded in time.

1. A fresh state dir on a small tmpfs (mounted here; root needed; unmounted at the end), keys,
   a chaos hope.toml (health port 0, thresholds so the injected signals BUY), supervisord with
   the project's own supervisord.conf rendered for that dir (HOPE_CONFIG in its environment).
2. The injector publishes SIGNALs (+ PRICEs) at ``--rate`` for the whole fault phase.
3. Faults: SIGKILL each program in turn, several at once, a SIGSTOP hang, a proxy restart, disk
   full; each waits for /health 200 again (the time is in the table).
4. Settle: the injector stops; we wait until nothing published is missing (or the settle
   deadline), shut supervisord down gracefully (the audit writer seals), run
   ``hope audit verify`` and print the table. Exit 0 only if zero lost and zero doubled and
   every check holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hope.chaos.faults import PROGRAMS, Faults, Supervisor, health_status
from hope.chaos.injector import DEFAULT_SYMBOLS
from hope.chaos.injector import NAME as INJECTOR
from hope.chaos.ledger import (
    merge_marks,
    read_heartbeat_marks,
    read_ledger,
    scan_audit,
    scan_outboxes,
)
from hope.chaos.table import Table, compute
from hope.eventauth.keys import ENROL_ENV
from hope.supervisor_conf import REPO

HOPE = [sys.executable, "-c",
        "import sys; from hope.cli import main; sys.exit(main(sys.argv[1:]))"]
EX_PREREQ = 3  # a prerequisite (tmpfs mount, supervisord) is missing: a failure, not a skip


class ChaosError(RuntimeError):
    pass


def chaos_config(key_id: str, symbols: list[str]) -> str:
    """Config of the chaos instance: /health on a free port, quick hang detection, and decision
    thresholds under which the injector's pump signals BUY whenever the symbol is flat (positions
    time out after 2 s on the market clock, so BUYs keep coming)."""
    return f"""# written by hope.chaos
[hope]
log_level = "info"

[health]
port = 0
down_after_s = 5.0
restart_grace_s = 10.0
startup_grace_s = 20.0
restart_budget = 20

[audit]
trusted_keys = ["{key_id}"]

# The injector's PRICEs (market time = wall time) are market data beside the scanner's replay
# of 2021; the first of them jumps the clock by years.
[market_clock]
publishers = ["scanner", "chaos-injector"]
max_step_s = 1e10

[decision]
cooldown_s = 0.0
max_open_positions = {len(symbols) + 2}
max_buys_per_min = 100000
timeout_s = 2.0
max_signal_age_s = 30.0
daily_loss_limit = {{ BTC = 1000.0, ETH = 1000.0, USDT = 1000000.0, BUSD = 1000000.0 }}
"""


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.t0 = time.monotonic()
        self.root = Path(tempfile.mkdtemp(dir="/tmp", prefix="hope-chaos-"))
        self.state = self.root
        self.mounted = False
        self.sup: Supervisor | None = None
        self.injector: subprocess.Popen | None = None
        self.marks: dict[str, dict[str, int]] = {}
        self.bus: dict = {}
        self.last_scan = 0.0
        # the injector is a principal of its own: it enrols its event key on first use
        self.env = {**os.environ, "HOPE_STATE_DIR": str(self.state), "PYTHONUNBUFFERED": "1",
                    "HOPE_CONFIG": str(self.root / "chaos.toml"), ENROL_ENV: "1"}

    def log(self, msg: str) -> None:
        print(f"[chaos {time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)

    # --- set-up ------------------------------------------------------------------------
    def mount(self) -> None:
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.args.tmpfs_mb}m,mode=0700",
                              "tmpfs", str(self.root)], capture_output=True, text=True)
        if out.returncode != 0:
            raise ChaosError(
                f"cannot mount a {self.args.tmpfs_mb} MiB tmpfs on {self.root} for the disk-full "
                f"fault (needs root or CAP_SYS_ADMIN): {out.stderr.strip() or out.returncode}")
        self.mounted = True
        self.log(f"tmpfs of {self.args.tmpfs_mb} MiB mounted at {self.root}")

    def start(self) -> None:
        if not self.args.no_tmpfs:
            self.mount()
        (self.root / "chaos.toml").write_text("")  # keys init needs a loadable config
        out = subprocess.run([*HOPE, "keys", "init",
                              "--state-dir", str(self.state)], capture_output=True, text=True,
                             env=self.env, cwd=REPO)
        m = re.search(r"key id: (\S+)", out.stdout)
        if out.returncode != 0 or not m:
            raise ChaosError(f"hope keys init failed: {out.stdout}{out.stderr}")
        symbols = self.args.symbols.split(",")
        (self.root / "chaos.toml").write_text(chaos_config(m.group(1), symbols))
        self.sup = Supervisor(self.state, self.env)
        self.sup.start()
        self.wait(lambda: self.sup.all_running() and health_status(self.state) == 200, 90,
                  "every program RUNNING and /health 200")
        self.log("all programs RUNNING, /health 200")

    def start_injector(self) -> None:
        a = self.args
        log = open(self.state / "logs" / "chaos-injector.log", "ab")
        self.injector = subprocess.Popen(
            [sys.executable, "-m", "hope.chaos.injector", "--ledger", str(self.ledger_path),
             "--hwm", str(self.hwm_path), "--rate", str(a.rate), "--duration",
             str(a.duration), "--symbols", a.symbols], cwd=REPO, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.wait(lambda: len(read_ledger(self.ledger_path).published) > 0, 30,
                  "the injector's first event")
        self.log(f"injector publishing {a.rate:g} SIGNAL/s for {a.duration:g}s")

    @property
    def ledger_path(self) -> Path:
        return self.state / "chaos-ledger.jsonl"

    @property
    def hwm_path(self) -> Path:
        return self.state / "chaos-hwm.json"

    # --- observation -------------------------------------------------------------------
    def scan(self, force: bool = False) -> None:
        """Merge high-water marks from heartbeats and outbox files (periodically)."""
        now = time.monotonic()
        if not force and now - self.last_scan < 2.0:
            return
        self.last_scan = now
        marks, bus = read_heartbeat_marks(self.hwm_path)
        merge_marks(self.marks, marks)
        merge_marks(self.marks, scan_outboxes(self.state / "outbox"))
        for pub, epochs in bus.items():
            self.bus.setdefault(pub, {}).update(epochs)

    def wait(self, pred, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise ChaosError(f"timed out after {timeout:g}s waiting for {what}")
            self.scan()
            time.sleep(0.2)

    def table(self) -> Table:
        self.scan(force=True)
        t = compute(read_ledger(self.ledger_path), self.marks, self.bus,
                    scan_audit(self.state / "events"), INJECTOR)
        return t

    # --- the run -----------------------------------------------------------------------
    def faults(self) -> list:
        a = self.args
        f = Faults(self.sup, self.state, recovery_timeout=a.recovery_timeout, poll=self.scan,
                   log=self.log)
        results = []

        def pause() -> None:  # load between faults, so each fault hits a busy pipeline
            end = time.monotonic() + a.pause
            while time.monotonic() < end:
                self.scan()
                time.sleep(0.2)

        for program in PROGRAMS:
            results.append(f.kill(program))
            pause()
        results.append(f.kill("audit-writer", "decision-engine", "executor"))
        pause()
        results.append(f.kill("proxy", "scanner", "dlq-retry", "health-monitor"))
        pause()
        results.append(f.hang("decision-engine", hold_s=0))
        pause()
        results.append(f.restart_proxy())
        pause()
        if self.mounted:
            results.append(f.fill_disk(hold_s=a.disk_full_s))
            pause()
        return results

    def settle(self) -> Table:
        """Stop the injector and wait until nothing published is missing (bounded)."""
        if self.injector.poll() is None:
            self.injector.send_signal(signal.SIGTERM)  # it writes its "done" line and exits
        deadline = time.monotonic() + 30
        while self.injector.poll() is None and not read_ledger(self.ledger_path).done:
            if time.monotonic() > deadline:
                break
            self.scan()
            time.sleep(0.5)
        self.log("injector done; waiting for the pipeline to settle")
        deadline = time.monotonic() + self.args.settle
        t = self.table()
        while time.monotonic() < deadline:
            if t.lost == 0 and set(t.decisions_per_signal) <= {1} \
                    and set(t.orders_per_buy) <= {1}:
                break
            time.sleep(1.0)
            t = self.table()
        return t

    def shutdown(self) -> None:
        if self.injector and self.injector.poll() is None:
            self.injector.send_signal(signal.SIGTERM)
            try:
                self.injector.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.injector.pid, signal.SIGKILL)
        if self.sup:
            self.scan(force=True)
            self.sup.shutdown(timeout=90)

    def verify(self) -> tuple[bool, str]:
        out = subprocess.run([*HOPE, "audit", "verify",
                              "--state-dir", str(self.state)], capture_output=True, text=True,
                             env=self.env, cwd=REPO, timeout=300)
        lines = (out.stdout + out.stderr).strip().splitlines()
        summary = next((ln for ln in reversed(lines) if ln.startswith("audit verify")),
                       lines[-1] if lines else "")
        if out.returncode != 0:
            for ln in lines[:15]:
                self.log(f"verify: {ln}")
        return out.returncode == 0, summary.removeprefix("audit verify: ")

    def teardown(self) -> None:
        if self.args.keep:
            if self.mounted:  # copy out of the tmpfs before unmounting
                dest = Path(tempfile.mkdtemp(dir="/tmp", prefix="hope-chaos-kept-"))
                shutil.copytree(self.state, dest / "state", dirs_exist_ok=True,
                                ignore_dangling_symlinks=True,
                                ignore=shutil.ignore_patterns("*.sock"))
                self.log(f"state kept in {dest / 'state'}")
            else:
                self.log(f"state kept in {self.state}")
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        if not (self.args.keep and not self.mounted):
            shutil.rmtree(self.root, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    r = Run(args)
    table: Table | None = None
    try:
        r.start()
        r.start_injector()
        faults = r.faults()
        table = r.settle()
        r.shutdown()
        final = r.table()  # after the graceful shutdown: sealed, flushed
        final.faults = faults
        final.restarts = r.sup.restarts()
        final.verify_ok, final.verify_summary = r.verify()
        final.elapsed_s = time.monotonic() - r.t0
        table = final
    except ChaosError as exc:
        r.log(f"FAILED: {exc}")
        return EX_PREREQ
    finally:
        r.shutdown()
        if table is not None:
            print(table.render(), flush=True)
            if not table.ok and table.lost_examples:
                print("lost (examples): " + ", ".join(table.lost_examples), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(table.to_dict(), indent=2, default=str))
        r.teardown()
    return 0 if table.ok else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=500.0, help="injected SIGNALs per second")
    p.add_argument("--duration", type=float, default=0.0,
                   help="seconds of injection (default: long enough for every fault)")
    p.add_argument("--pause", type=float, default=8.0, help="seconds of load between faults")
    p.add_argument("--recovery-timeout", type=float, default=90.0)
    p.add_argument("--disk-full-s", type=float, default=8.0, help="how long the disk stays full")
    p.add_argument("--settle", type=float, default=90.0, help="max seconds to settle at the end")
    p.add_argument("--tmpfs-mb", type=int, default=512)
    p.add_argument("--no-tmpfs", action="store_true", help="skip the tmpfs and the disk fault")
    p.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    p.add_argument("--short", action="store_true",
                   help="the test suite's short version: 100/s, short pauses")
    p.add_argument("--json", help="also write the table as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the state dir for inspection")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.short:
        args.rate = 100.0 if args.rate == 500.0 else args.rate
        args.pause, args.settle, args.recovery_timeout = 2.0, 45.0, 45.0
        args.disk_full_s, args.tmpfs_mb = 5.0, min(args.tmpfs_mb, 256)
    if not args.duration:  # the injector outlives the fault phase; settle stops it
        args.duration = 14 * (args.pause + 25.0)
    return run(args)
