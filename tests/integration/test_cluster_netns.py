"""HOPE on five hosts built in network namespaces, broken under load, and checked from its audit
log: nothing lost, nothing doubled, one DECISION per SIGNAL, one ORDER per BUY.

Hosts (namespaces of :class:`hope.cluster.netns.Lab`, each with its own state dir, transport
tcp, its own supervisord on the config ``hope cluster render`` wrote): h1 proxy, h2 proxy-2
(active-active), h3 audit-writer + audit-reader, h4 decision-engine + executor + health-monitor,
h5 scanner-1 + scanner-2 (shards 1/2 and 2/2) and an injector adding SIGNALs at a steady rate
(:mod:`hope.cluster.probes`); h6, with no program, holds the rogue peers and the CLI.
Faults, in order: h4's cable pulled for 5 s; proxy A SIGKILLed (supervisord starts it again);
the decision engine SIGKILLed (restarted, it rebuilds its risk state from h3's log over the
bus); on proxy A a rogue peer without CURVE and one with a key nobody enrolled, each
subscribing to everything and publishing garbage: they get nothing and are refused (counted).
Keys: ``hope keys init`` and ``hope keys enrol`` on an operator's state dir; ``hope cluster
render`` copies each host its own. The recovery times measured are printed (pytest -s).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hope.cluster.netns import Lab
from hope.cluster.probes import injector_rules, rogue_messages
from hope.envelope import parse_timestamp
from hope.testing import REPO, Supervisord, audit_records, short_tmpdir, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

HOPE = Path(sys.executable).parent / "hope"
HOSTS = ["h1", "h2", "h3", "h4", "h5", "h6"]
PROGRAMS = {"h1": ["proxy"], "h2": ["proxy-2"], "h3": ["audit-writer", "audit-reader"],
            "h4": ["decision-engine", "executor", "health-monitor"], "h5": ["scanner-1", "scanner-2"], "h6": []}
INJECT_INTERVAL_S = 0.2
BASE_CONFIG = """\
[hope]
log_level = "info"

[audit]
trusted_keys = ["{key}"]

[bus]
heartbeat_interval_s = 0.5

[scanner]
strategies = ["pump", "trend"]
price_interval_s = 1.0

[scanner.replay]
files = [{files}]
speed = 5.0
start_before_pump_s = 10.0
episode_s = 600.0
warmup_s = 300.0
"""


# --- the rig -----------------------------------------------------------------------------

class Cluster:
    """The lab, one state dir and one supervisord per host, the injector, and the checks."""

    def __init__(self) -> None:
        Lab.remove_stale()
        self.lab = Lab(HOSTS)
        self.root = short_tmpdir("hope-cl-")
        self.sups: dict[str, Supervisord] = {}
        self.injector: subprocess.Popen | None = None
        self.ledger = self.root / "injected.jsonl"
        self.stop_file = self.root / "stop-injecting"
        self.marks: dict[str, float] = {}

    @property
    def keys(self) -> Path:
        return self.root / "ops" / "keys"

    def handshake_failures(self) -> int:
        """Handshakes proxy A refused so far (its heartbeat, heard from h6)."""
        counts = self.last_beat("proxy").get("handshake_failures") or {}
        return sum(n for per in counts.values() for n in per.values())

    def state(self, host: str) -> Path:
        return self.root / host

    def hope(self, *args: str, host: str = "h3", check: bool = False) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOPE_CONFIG": str(self.state(host) / "run" / "hope.toml")}
        out = subprocess.run([str(HOPE), *args], env=env, capture_output=True, text=True,
                             timeout=60, cwd=self.root)
        assert not check or out.returncode == 0, out.stdout + out.stderr
        return out

    def write(self) -> None:
        """Every principal's keys made on the operator's machine (``ops/``: ``hope keys init``,
        ``enrol`` for the instances and the injector), the base config, the cluster file."""
        ops = self.root / "ops"
        ops.mkdir()
        (self.root / "empty.toml").write_text("")
        out = subprocess.run([str(HOPE), "keys", "init", "--state-dir", str(ops), "--config",
                              str(self.root / "empty.toml")], capture_output=True, text=True,
                             timeout=60)
        key = next(w for w in out.stdout.split() if w.startswith("ed25519:"))
        listeners = [f"health-listener-{n}" for n in range(1, len(HOSTS) + 1)]
        subprocess.run([str(HOPE), "keys", "enrol", "proxy-2", "scanner-1", "scanner-2",
                        "injector", *listeners, "--state-dir", str(ops),
                        "--config", str(self.root / "empty.toml")], check=True,
                       capture_output=True, timeout=60)
        files = ", ".join(f'"{p}"' for p in sorted((REPO / "data").glob("binance_pump_*.csv.gz")))
        (self.root / "base.toml").write_text(BASE_CONFIG.format(key=key, files=files)
                                                + injector_rules(max_buys_per_min=60))
        hosts = "".join(
            f'[hosts.{h}]\naddress = "{self.lab.address(h)}"\nstate_dir = "{self.state(h)}"\n'
            f"programs = {json.dumps(PROGRAMS[h])}\n\n" for h in HOSTS)
        (self.root / "cluster.toml").write_text(
            '[cluster]\nconfig = "base.toml"\nkeys = "ops/keys"\n\n' + hosts
            + '[programs.scanner-1]\nconfig = { scanner = { shard = "1/2" } }\n'
            + '[programs.scanner-2]\nconfig = { scanner = { shard = "2/2" } }\n')

    def render_and_start(self) -> None:
        self.hope("cluster", "check", "--file", str(self.root / "cluster.toml"), check=True)
        for host in HOSTS:
            self.hope("cluster", "render", "--file", str(self.root / "cluster.toml"),
                      "--host", host, check=True)
        for host in HOSTS[:5]:  # proxies first, then the audit writer, then the rest
            sup = Supervisord(self.state(host), conf=self.state(host) / "run" / "supervisord.conf",
                              argv_prefix=self.lab.argv(host, []), make_keys=False,
                              env={"HOPE_CONFIG": str(self.state(host) / "run" / "hope.toml")})
            sup.start()
            self.sups[host] = sup
        for host in HOSTS[:5]:
            wait_for(lambda h=host: self.sups[h].running(PROGRAMS[h]), timeout=60, interval=0.5,
                     message=f"{host}'s programs RUNNING")
        shutil.copytree(self.keys / "injector", self.state("h5") / "keys" / "injector")
        env = {**os.environ, "HOPE_CONFIG": str(self.state("h5") / "run" / "hope.toml"),
               "HOPE_STATE_DIR": str(self.state("h5")), "PYTHONUNBUFFERED": "1"}
        log = open(self.state("h5") / "logs" / "injector.log", "ab")
        self.injector = subprocess.Popen(
            self.lab.argv("h5", [sys.executable, "-m", "hope.cluster.probes", "--ledger",
                                 str(self.ledger), "--interval", str(INJECT_INTERVAL_S),
                                 "--stop-file", str(self.stop_file)]),
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        log.close()

    def records(self, family: str) -> list[dict[str, Any]]:
        return audit_records(self.state("h3"), family)

    def injected(self) -> list[dict[str, Any]]:
        if not self.ledger.exists():
            return []
        return [json.loads(x) for x in self.ledger.read_text().splitlines() if x.strip()]

    def undecided(self) -> set[str]:
        """Audited SIGNALs without an audited DECISION."""
        decided = {r["causation_id"] for r in self.records("decisions")}
        return {r["event_id"] for r in self.records("signals")} - decided

    def last_beat(self, service: str) -> dict[str, Any]:
        """The next heartbeat of ``service``, heard on the bus from h6 (``hope sniff``)."""
        env = {**os.environ, "HOPE_CONFIG": str(self.state("h6") / "run" / "hope.toml"),
               "HOPE_STATE_DIR": str(self.state("h6"))}
        try:
            out = subprocess.run(self.lab.argv("h6", [str(HOPE), "sniff", f"HEARTBEAT.{service}",
                                                      "--json", "--count", "1"]),
                                 env=env, capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            return {}
        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
        return json.loads(lines[-1])["payload"] if lines else {}

    def health(self, host: str) -> dict[str, Any]:
        """``/health`` of the monitor on ``host`` (127.0.0.1 inside that host's namespace)."""
        port = json.loads((self.state(host) / "run" / "registry.json").read_text())[
            "monitor"]["http_port"]
        code = (f"import urllib.request, urllib.error\ntry:\n"
                f"    print(urllib.request.urlopen('http://127.0.0.1:{port}/health').read()"
                f".decode())\nexcept urllib.error.HTTPError as e:\n    print(e.read().decode())")
        out = subprocess.run(self.lab.argv(host, [sys.executable, "-c", code]),
                             capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout)

    def log(self, host: str, program: str) -> str:
        path = self.state(host) / "logs" / f"{program}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        if self.injector is not None and self.injector.poll() is None:
            os.killpg(self.injector.pid, signal.SIGKILL)
            self.injector.wait(10)
        for sup in self.sups.values():
            sup.shutdown(timeout=30)
        self.lab.destroy()
        if not os.environ.get("HOPE_TEST_KEEP_STATE"):
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster():
    rig = Cluster()
    try:
        rig.lab.create()
        rig.write()
        yield rig
    finally:
        rig.close()


# --- faults and checks -------------------------------------------------------------------

def caught_up_after(rig: Cluster, since: float, what: str, timeout: float = 45.0) -> float:
    """Seconds from ``since`` until every SIGNAL audited by then has its DECISION."""
    pending = rig.undecided()
    wait_for(lambda: not (pending & rig.undecided()), timeout=timeout, interval=0.2,
             message=f"every SIGNAL decided after {what}")
    return round(time.monotonic() - since, 2)


def longest_pause(rig: Cluster, start: float, end: float) -> float:
    """The longest wall-clock gap between consecutive DECISIONs published in [start, end]."""
    ts = sorted(t for r in rig.records("decisions")
                if start <= (t := parse_timestamp(r["timestamp"]).timestamp()) <= end)
    return round(max((b - a for a, b in itertools.pairwise(ts)), default=0.0), 2)


def rogue_peers(rig: Cluster) -> int:
    """A peer without CURVE and one with an unenrolled key, each subscribing to everything on
    proxy A and publishing garbage for 3 s: the messages they received."""
    cert = rig.keys / "public" / "proxy.curve.key"
    return rogue_messages(rig.lab.argv("h6", []), rig.lab.address("h1"), cert)


def faults(rig: Cluster) -> dict[str, float]:
    """The faults in order, each followed until the cluster caught up; their timings."""
    t: dict[str, float] = {}
    # 1. h4 (decision engine, executor, its health monitor) loses its link for 5 s: the
    #    monitor, cut off itself, restarts nothing for the silence (hope/health/hearing.py)
    pids = {p: rig.sups["h4"].running_pid(p) for p in ("decision-engine", "executor")}
    rig.lab.link("h4", False)
    t_down = time.monotonic()
    wait_for(lambda: time.monotonic() - t_down >= 5.0, timeout=10, interval=0.1,
             message="the 5 s outage")
    rig.lab.link("h4", True)
    t_back = time.monotonic()
    t["link_caught_up_s"] = caught_up_after(rig, t_back, "the link flap")
    # a wrong restart would come within down_after_s (5 s) of heard time after the return
    wait_for(lambda: time.monotonic() - t_back >= 7.0, timeout=15, interval=0.2,
             message="the window a wrong restart would come in")
    monitor = rig.log("h4", "health-monitor")
    t["link_restarts"] = monitor.count('"health.restart"')
    t["link_seen_out"] = '"health.bus_link_out"' in monitor
    t["link_pids_kept"] = pids == {p: rig.sups["h4"].running_pid(p) for p in pids}
    # 2. proxy A dies (SIGKILL); supervisord on h1 starts it again
    pid = rig.sups["h1"].running_pid("proxy")
    t["proxy_kill_wall"] = time.time()
    os.kill(pid, signal.SIGKILL)
    t_kill = time.monotonic()
    t["proxy_caught_up_s"] = caught_up_after(rig, t_kill, "the proxy kill")
    wait_for(lambda: rig.last_beat("executor").get("bus", {}).get("links", {})
             .get("proxies_ready") == 2, timeout=45, interval=0.5,
             message="the executor's links to both proxies ready again")
    t["proxy_back_s"] = round(time.monotonic() - t_kill, 2)
    # 3. the decision engine dies; restarted by h4's supervisord, it rebuilds over the bus
    pid = rig.sups["h4"].running_pid("decision-engine")
    rebuilds = rig.log("h4", "decision-engine").count("audit log read over the bus")
    t["de_kill_wall"] = time.time()
    os.kill(pid, signal.SIGKILL)
    t_de = time.monotonic()
    wait_for(lambda: rig.log("h4", "decision-engine").count("audit log read over the bus")
             > rebuilds,
             timeout=45, interval=0.2, message="the restarted engine's rebuild over the bus")
    t["de_rebuilt_s"] = round(time.monotonic() - t_de, 2)
    t["de_caught_up_s"] = caught_up_after(rig, t_de, "the decision engine's restart")
    # 4. rogue peers on proxy A
    failed_before = rig.handshake_failures()
    t["rogue_got"] = rogue_peers(rig)
    wait_for(lambda: rig.handshake_failures() >= failed_before + 2, timeout=20, interval=0.5,
             message="proxy A counting both rogue peers' refused handshakes")
    t["rogue_refused"] = rig.handshake_failures() - failed_before
    wait_for(lambda: not rig.undecided(), timeout=30, interval=0.5,
             message="decisions after the rogue peers")
    return t


def audit_problems(rig: Cluster) -> tuple[list[str], dict[str, int]]:
    """Every event id recorded twice, every SIGNAL without exactly one DECISION, every BUY
    without exactly one ORDER (empty: all hold); plus counts."""
    problems = []
    for family in ("signals", "decisions", "orders", "fills", "closes"):
        dup = [e for e, n in Counter(r["event_id"] for r in rig.records(family)).items() if n > 1]
        if dup:
            problems.append(f"{family}: {len(dup)} event ids recorded twice, e.g. {dup[:3]}")
    per_signal = Counter(r["causation_id"] for r in rig.records("decisions"))
    problems += [f"SIGNAL {s} has {n} DECISIONs" for s, n in per_signal.items() if n != 1]
    buys = {r["event_id"] for r in rig.records("decisions") if r["payload"]["action"] == "BUY"}
    wait_for(lambda: buys <= {r["causation_id"] for r in rig.records("orders")}, timeout=30,
             interval=0.5, message="an ORDER for every BUY")
    per_buy = Counter(r["causation_id"] for r in rig.records("orders"))
    problems += [f"BUY {b} has {per_buy[b]} ORDERs" for b in buys if per_buy[b] != 1]
    new = sum(r["payload"]["status"] == "NEW" for r in rig.records("orders"))
    return problems, {"decisions": len(per_signal), "buys": len(buys), "new_orders": new}


def cluster_views(rig: Cluster) -> dict[str, Any]:
    """What the hosts without the log see: /health on h4, a trace from h6; the engine's bus."""
    health = rig.health("h4")
    assert {h: v["status"] for h, v in health["hosts"].items()} == dict.fromkeys(
        ["h1", "h2", "h3", "h4", "h5"], "UP"), health
    assert health["services"]["audit-writer"]["host"] == "h3"
    assert health["services"]["scanner-2"] == {"host": "h5", "status": "UP"}, health
    assert "audit log read over the bus" in rig.log("h4", "decision-engine")
    corr = rig.records("orders")[-1]["correlation_id"]  # followed from h6, which has no log
    out = subprocess.run(rig.lab.argv("h6", [str(HOPE), "trace", corr]), capture_output=True,
                         text=True, timeout=60, env={**os.environ, "HOPE_CONFIG": str(
                             rig.state("h6") / "run" / "hope.toml"),
                             "HOPE_STATE_DIR": str(rig.state("h6"))})
    assert out.returncode == 0 and "ORDER" in out.stdout, out.stdout + out.stderr
    bus = rig.last_beat("decision-engine").get("bus", {})
    assert bus.get("copies", 0) > 0 and bus["links"]["proxies"] == 2, bus  # two proxies in use
    return bus


def listener_replays(rig: Cluster) -> list[str]:
    """Each host's event listener signs as its own ``health-listener-<n>``; log lines on any
    host refusing a listener's HEARTBEAT as a replay (two hosts' listeners under one name)."""
    out = []
    for n, host in enumerate(HOSTS[:5], 1):
        assert f"started as health-listener-{n}" in rig.log(host, "hope-events"), host
        for path in (rig.state(host) / "logs").glob("*.log"):
            out += [f"{host}/{path.name}: {line[:300]}"
                    for line in path.read_text(errors="replace").splitlines()
                    if "auth_replayed" in line and "HEARTBEAT from health-listener" in line]
    return out


def test_five_hosts_lose_nothing_through_a_link_flap_a_proxy_kill_and_rogue_peers(cluster):
    """Under load: h4's cable out 5 s (its health monitor restarts nothing for it), proxy A and
    the engine SIGKILLed, rogue peers; then every injected SIGNAL is audited once with one
    DECISION, every BUY one ORDER, and the log verifies."""
    rig, t0 = cluster, time.monotonic()
    rig.render_and_start()
    wait_for(lambda: len(rig.records("decisions")) >= 10, timeout=60, interval=0.5,
             message="decisions flowing")
    started = round(time.monotonic() - t0, 1)
    t = faults(rig)
    rig.stop_file.write_text("")  # drain: stop injecting, let everything settle
    wait_for(lambda: rig.injected() and (time.time() - rig.injected()[-1]["at"]) > 1.0,
             timeout=20, message="the injector stopped")
    injected = {r["event_id"] for r in rig.injected()}
    wait_for(lambda: injected <= {r["event_id"] for r in rig.records("signals")}, timeout=45,
             interval=0.5, message="every injected SIGNAL audited")
    wait_for(lambda: not rig.undecided(), timeout=45, interval=0.5,
             message="every SIGNAL decided")
    pause = longest_pause(rig, t["proxy_kill_wall"] - 3.0,
                          min(t["proxy_kill_wall"] + 5.0, t["de_kill_wall"]))
    problems, n = audit_problems(rig)
    assert not problems, "\n".join(problems[:20])
    assert n["buys"] >= 3 and n["new_orders"] >= 3 and len(injected) >= 50, (n, len(injected))
    bus = cluster_views(rig)
    for host in ("h5", "h4", "h3", "h2", "h1"):
        rig.sups[host].shutdown(timeout=60)
    rig.hope("audit", "verify", "--state-dir", str(rig.state("h3")), check=True)
    assert listener_replays(rig) == []
    assert t["rogue_got"] == 0 and '"bad_frame_rejected"' not in rig.log("h3", "audit-writer")
    assert (t["link_restarts"], t["link_pids_kept"], t["link_seen_out"]) == (0, True, True), t
    print(f"\ncluster: started in {started}s; {len(injected)} injected signals, {n}; link flap "
          f"5 s: caught up {t['link_caught_up_s']}s after the link came back; proxy A SIGKILL: "
          f"caught up {t['proxy_caught_up_s']}s after, linked to both proxies again "
          f"{t['proxy_back_s']}s after, longest pause between decisions around it {pause}s "
          f"(inject interval {INJECT_INTERVAL_S}s); decision engine SIGKILL: rebuilt over the "
          f"bus {t['de_rebuilt_s']}s after, caught up {t['de_caught_up_s']}s after; engine's "
          f"bus: {bus['copies']} copies dropped, {bus['duplicates']} duplicates, "
          f"{bus['replay_requests']} replay requests, links {bus['links']}; rogue peers got "
          f"{t['rogue_got']} messages, proxy A refused {t['rogue_refused']} handshakes; total "
          f"{time.monotonic() - t0:.0f}s")

