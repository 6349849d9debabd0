"""deploy/: Prometheus rules and the Grafana dashboard query only metrics HOPE exports; the
systemd unit passes ``systemd-analyze verify``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hope.health.metrics import Metrics
from hope.health.registry import Registry
from hope.testing import REPO

DEPLOY = REPO / "deploy"
PROMETHEUS_OWN = {"up"}  # set by Prometheus for every scrape target
METRIC = re.compile(r"\b(hope_[a-z0-9_]+)\b")


def heartbeat_of_every_kind() -> Registry:
    """Heartbeats carrying every field the monitor re-exposes (runtime, breakers, DLQ, audit,
    refusals, live feed), so each metric family HOPE can export has a sample."""
    reg = Registry()
    reg.observe({"service": "scanner", "pid": 1, "host": "h", "events_in": {"PRICE": 1},
                 "events_out": {"SIGNAL": 7}, "queue_depth": 0, "failed": 1,
                 "handlers": {"on_price": {"count": 2, "sum": 0.1, "buckets": [[0.01, 1],
                                                                               [0.1, 2]]}},
                 "bus": {"decode_errors": 1, "replayed_in": 1, "gaps_unrecoverable": 1,
                         "outbox_pending": 3, "refusals": {"decode": 1}, "copies": 4,
                         "links": {"disconnects": 1, "handshake_failures": 1,
                                   "proxies_ready": 2}},
                 "refusals": {"host_not_allowed": 1}, "breakers": {"venue": "open"},
                 "disconnects": {"xsub": 1},
                 "feed": {"connections": [{"index": 0, "state": "up", "reconnects": 1}],
                          "symbols": {"NASBTC": {"last_trade_age_s": 1.0, "lag_s": 0.01}},
                          "lag_s": {"p50": 0.01, "p99": 0.05}, "live_trades": 1,
                          "backfilled_trades": 1, "id_gaps": 1, "lost_trades": 0,
                          "duplicates": 0, "reconnects": 1, "torn_tails": 0,
                          "rest_limited": 0, "rest_bans": 0, "down_s": 0.0,
                          "tape_bytes": 10},
                 "venue": {"clock": {"clock_offset_ms": 12.0, "clock_rtt_ms": 3.0},
                           "budget": {"weight_used_1m": 5, "banned_s": 0.0, "bans": 0},
                           "fills": {"fills": 1, "unsettled": 0, "gap": None},
                           "user_stream": {"state": "up", "connects": 1}}}, 10.0)
    reg.observe({"service": "dlq-retry", "pid": 2, "dlq": {"parked": 1}}, 10.0)
    reg.observe({"service": "audit-writer", "pid": 3, "queue_depth": 5}, 10.0)
    return reg


def exported_names(tmp_path: Path) -> set[str]:
    text = Metrics(heartbeat_of_every_kind(), tmp_path,
                   lambda: {"restarts": 0}).render().decode()
    names = set()
    for fam in text_string_to_metric_families(text):
        names.add(fam.name)
        names.update(s.name for s in fam.samples)
    return names


def queried() -> dict[str, set[str]]:
    """file -> metric names its expressions use."""
    out: dict[str, set[str]] = {}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    out["alerts.yml"] = {m for e in exprs for m in METRIC.findall(e)}
    dash = json.loads((DEPLOY / "grafana" / "hope-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    out["hope-dashboard.json"] = {m for e in exprs for m in METRIC.findall(e)}
    return out


def test_every_queried_metric_is_exported(tmp_path):
    """Each hope_* name in the alert rules and the Grafana panels is on the monitor's /metrics."""
    names = exported_names(tmp_path)
    for where, used in queried().items():
        assert used, f"{where} queries no HOPE metric"
        missing = sorted(used - names)
        assert not missing, f"{where} queries metrics /metrics does not export: {missing}"


def test_alert_rules_cover_the_operators_cases():
    """Alerts exist for a service down, a feed stale, the audit writer behind, a breaker open
    and refusals rising, each with a summary."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for name in ("HopeServiceDown", "HopeFeedStale", "HopeAuditWriterBehind",
                 "HopeBreakerOpen", "HopeRefusalsRising"):
        assert name in by_name and by_name[name]["annotations"]["summary"]
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert scrape["rule_files"] == ["alerts.yml"]
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8470"]  # [health] port default


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze missing: ./scripts/test installs Debian's systemd package"
    return path


def verify(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)


def rendered_unit(tmp_path: Path, root: Path) -> Path:
    """The unit with this checkout as /opt/hope and the current user (verify checks that
    every command it starts exists and is executable)."""
    import getpass
    import grp
    import os
    user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    text = (DEPLOY / "systemd" / "hope.service").read_text().replace("/opt/hope", str(root))
    text = text.replace("User=hope", f"User={user}").replace("Group=hope", f"Group={group}")
    unit = tmp_path / "hope.service"
    unit.write_text(text)
    return unit


@pytest.mark.timeout(90)
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    """systemd-analyze verify accepts the unit with no warning (unknown keys, missing commands)."""
    if not (REPO / ".venv" / "bin" / "supervisord").exists():
        pytest.fail(f"{REPO}/.venv/bin/supervisord missing: run ./scripts/setup")
    out = verify(rendered_unit(tmp_path, REPO))
    assert out.returncode == 0, out.stderr
    assert "hope.service" not in out.stderr, out.stderr  # warnings name the unit


@pytest.mark.timeout(90)
def test_systemd_verify_catches_a_broken_unit(tmp_path):
    """The check can fail: a unit whose commands do not exist is refused."""
    out = verify(rendered_unit(tmp_path, tmp_path / "nowhere"))
    assert out.returncode != 0 and "not executable" in out.stderr
