"""The pipeline rig: a temp state dir with pinned audit keys, the config, and the real
processes (proxy, audit-writer, executor, decision-engine, the injector of
:mod:`hope.cluster.probes`, the scanner replaying the NAS/BTC pump); shared by the pipeline
and live-feed system tests.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from hope.cluster.probes import injector_rules
from hope.testing import REPO, Processes, audit_records, short_tmpdir, wait_for

HOPE = Path(sys.executable).parent / "hope"
PUMP_FILE = REPO / "data" / "binance_pump_trades_NASBTC_2021-01-14T2100Z.csv.gz"
PUMP_T = 1610658000.0          # 2021-01-14T21:00Z, the announced pump time in the file name
EPISODE_S = 150.0              # market seconds replayed after the pump time
INJECT_UNTIL_S = 100.0         # injected signals stop here: 50 s of market time for exits
SPEED = 10.0

CONFIG = """\
[hope]
log_level = "info"

[audit]
trusted_keys = [{keys}]

[scanner]
strategies = ["pump", "trend"]
price_interval_s = 0.25

[scanner.replay]
files = ["{file}"]
speed = {speed}
start_before_pump_s = 20.0
episode_s = {episode}
warmup_s = 3600.0

[shadow]
config = "hope.shadow.toml"
"""
RULES = injector_rules(max_buys_per_min=30)
# the shadow's candidate: the live rules with a single position at a time
SHADOW_CONFIG = "[decision]\n" + RULES.split("[decision]\n", 1)[1].replace(
    "max_open_positions = 4", "max_open_positions = 1")


# --- the rig -----------------------------------------------------------------------------

class Pipeline:
    """A temp state dir with pinned audit keys, the temp config and the real processes."""

    def __init__(self) -> None:
        self.state = short_tmpdir("hope-pl-")
        self.config = self.state / "hope.toml"
        self.write_config([])
        from hope.cli import main as hope_main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = hope_main(["keys", "init", "--state-dir", str(self.state),
                            "--config", str(self.config)])
        m = re.search(r"key id: (ed25519:[0-9a-f]+)", out.getvalue())
        assert rc == 0 and m, f"hope keys init failed:\n{out.getvalue()}"
        self.write_config([m.group(1)])
        self.procs = Processes(self.state, env={"HOPE_CONFIG": str(self.config)})
        self.events = self.state / "events"

    def write_config(self, keys: list[str]) -> None:
        self.config.write_text(CONFIG.format(
            keys=", ".join(f'"{k}"' for k in keys), file=PUMP_FILE, speed=SPEED,
            episode=EPISODE_S) + RULES)
        (self.state / "hope.shadow.toml").write_text(SHADOW_CONFIG)

    def start(self, key: str, module: str) -> None:
        """Start a service and wait until it logged "started" (it is on the bus)."""
        before = self.procs.log_text(key).count('"started"')
        self.procs.service(key, module)
        wait_for(lambda: self.procs.log_text(key).count('"started"') > before, timeout=30,
                 message=f"{key} to start")

    def start_all(self, shadow: bool = False) -> None:
        self.procs.proxy()
        self.start("audit", "audit_writer")
        self.start("executor", "executor")
        self.start("decision", "decision_engine")
        if shadow:
            self.start("shadow", "decision_engine_shadow")
        before = self.procs.log_text("injector").count('"started"')
        self.procs.start("injector", ["-m", "hope.cluster.probes", "--interval", "0.4",
                                      "--until", str(PUMP_T + INJECT_UNTIL_S)])
        wait_for(lambda: self.procs.log_text("injector").count('"started"') > before,
                 timeout=30, message="injector to start")
        self.start("scanner", "scanner")

    def hope(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOPE_CONFIG": str(self.config)}
        return subprocess.run([str(HOPE), *args, "--state-dir", str(self.state)], env=env,
                              capture_output=True, text=True, timeout=60)

    def records(self, family: str) -> list[dict[str, Any]]:
        return audit_records(self.state, family)

    def count(self, family: str) -> int:
        return len({r.get("event_id") for r in self.records(family)})

    def replay_finished(self) -> bool:
        return "replay_finished" in self.procs.log_text("scanner")

    def stop_all(self) -> None:
        """SIGTERM in reverse order of the data flow; the audit writer last (it seals the log)."""
        for key in ("scanner", "injector", "shadow", "decision", "executor", "audit"):
            if key in self.procs.procs:
                assert self.procs.stop(key, timeout=30) == 0, self.procs.log_text(key)[-3000:]

    def close(self) -> None:
        self.procs.kill_all()
        if not os.environ.get("HOPE_TEST_KEEP_STATE"):  # set it to inspect a failed run
            import shutil
            shutil.rmtree(self.state, ignore_errors=True)
