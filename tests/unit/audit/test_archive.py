"""Archiving sealed audit segments (gzip + manifest, crash-safe) and the events disk budget."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hope.audit import archive
from hope.audit.archive import DiskBudget, disk_usage
from hope.audit.config import AuditConfig
from hope.audit.reader import LocalAuditReader
from hope.audit.report import summarize
from hope.audit.service import AuditWriterService
from hope.audit.trace import trace
from hope.audit.verify import verify
from hope.bus.memory import LocalBroker
from hope.clock import ManualClock
from hope.config import load
from hope.runtime import Runtime
from hope.service import build
from tests.helpers import ev, make_state, writer

N = 40


def manifest(st) -> list[str]:
    return json.loads((st.events / "manifest.json").read_text())["families"]["prices"]


def written_log(n: int = N):
    """A closed log whose ``prices`` family spans several rotated, sealed segments."""
    st = make_state()
    with writer(st, segment_max_bytes=2000, checkpoint_every_records=1) as w:
        for i in range(1, n + 1):
            w.append(ev(i))
            w.sync()
    return st


def prices(st) -> list[int]:
    return [r["payload"]["price"] for r in LocalAuditReader(st.events).records("prices")]


def test_sealed_segments_are_archived_one_at_a_time_and_everything_still_verifies():
    """Each step gzips one rotated sealed segment; reader and verify see every record unchanged."""
    st = written_log()
    before, segs = prices(st), manifest(st)
    assert len(segs) >= 3
    w = writer(st, segment_max_bytes=2000, archive_after_s=1.0,
               clock=ManualClock(os.path.getmtime(st.events / segs[-1]) + 10))
    steps = 0
    while w.archiver.step(w.sealed_size()):
        steps += 1
    w.close()
    now = manifest(st)
    assert steps == len(segs) - 1 and w.archiver.archived == steps
    assert all(s.endswith(".jsonl.gz") for s in now[:-1]) and now[-1] == segs[-1]
    for s in segs[:-1]:
        assert not (st.events / s).exists()
        assert gzip.decompress((st.events / (s + ".gz")).read_bytes()).count(b"\n") > 0
    assert prices(st) == before
    report = verify(st)
    assert report.ok, report.failures
    assert report.records >= N and report.files == len(now)
    with writer(st, segment_max_bytes=2000) as w2:  # a restart builds on the archived chain
        w2.append(ev(N + 1))
    assert verify(st).ok and prices(st) == before + [before[-1] + 1]


def test_the_independent_verifier_reads_archived_segments():
    """The verifier written from docs/AUDIT.md alone accepts a log with archived segments."""
    st = written_log()
    w = writer(st, archive_after_s=1.0, clock=ManualClock(time.time() + 1e6))
    while w.archiver.step(w.sealed_size()):
        pass
    key = w.signer.key_id
    w.close()
    assert manifest(st)[0].endswith(".gz")
    script = Path(__file__).parents[2] / "independent_verifier.py"
    out = subprocess.run([sys.executable, str(script), str(st.root), key], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("OK"), out.stdout + out.stderr


def test_nothing_young_active_or_unsealed_is_archived():
    """Segments newer than archive_after_s, the active one, and 0 (disabled) stay plain."""
    st = written_log()
    segs = manifest(st)
    young = writer(st, archive_after_s=3600.0,
                   clock=ManualClock(os.path.getmtime(st.events / segs[0]) + 5))
    assert young.archiver.candidate(young.sealed_size()) is None
    young.close()
    off = writer(st, archive_after_s=0, clock=ManualClock(time.time() + 1e6))
    assert off.archiver.candidate(off.sealed_size()) is None
    off.close()
    late = writer(st, archive_after_s=1.0, clock=ManualClock(time.time() + 1e6))
    assert late.archiver.candidate(0) is None  # no durable checkpoint covers anything
    assert late.archiver.candidate(late.sealed_size()).name == segs[0]
    late.close()


def test_crash_after_the_gzip_rename_before_the_manifest_recovers():
    """The manifest still names the plain segment: start-up removes the orphan .gz; verify OK."""
    st = written_log()
    before, segs = prices(st), manifest(st)
    archive.compress(st.events, segs[0])  # steps 1-2, then "crash"
    assert (st.events / (segs[0] + ".gz")).exists()
    assert verify(st).ok  # an archiving in progress is not an unlisted segment
    with writer(st, segment_max_bytes=2000) as w:
        w.append(ev(N + 1))
    assert not (st.events / (segs[0] + ".gz")).exists() and manifest(st)[0] == segs[0]
    assert verify(st).ok and prices(st)[:len(before)] == before


def test_crash_after_the_manifest_switch_before_the_unlink_recovers(monkeypatch):
    """The manifest names the .gz while the plain file remains: start-up removes the plain one."""
    st = written_log()
    before, segs = prices(st), manifest(st)
    archive.compress(st.events, segs[0])
    monkeypatch.setattr(archive.Path, "unlink", lambda self, missing_ok=False: None)
    w = writer(st)
    archive.switch(st.events, w.manifest, "prices", segs[0])  # the unlink "crashes"
    w.close()
    monkeypatch.undo()
    assert manifest(st)[0] == segs[0] + ".gz" and (st.events / segs[0]).exists()
    with writer(st, segment_max_bytes=2000) as w:
        w.append(ev(N + 1))
    assert not (st.events / segs[0]).exists() and manifest(st)[0] == segs[0] + ".gz"
    assert verify(st).ok and prices(st)[:len(before)] == before


def test_a_torn_temp_archive_is_removed_at_start():
    """A crash while compressing leaves only the temp file; start-up removes it."""
    st = written_log()
    segs = manifest(st)
    tmp = st.events / f".{segs[0]}.gz.tmp"
    tmp.write_bytes(b"\x1f\x8b partial")
    writer(st).close()
    assert not tmp.exists() and manifest(st) == segs and verify(st).ok


def test_a_missing_or_corrupt_archived_segment_fails_verify_naming_it():
    """Moved off the host or damaged: verify fails and names the segment; the reader warns."""
    st = written_log()
    segs = manifest(st)
    w = writer(st, archive_after_s=1.0, clock=ManualClock(time.time() + 1e6))
    assert w.archiver.step(w.sealed_size())
    w.close()
    gz = st.events / (segs[0] + ".gz")
    data = gz.read_bytes()
    gz.write_bytes(data[: len(data) // 2])
    report = verify(st)
    assert not report.ok and any(segs[0] + ".gz" in p for p in report.failures)
    reader = LocalAuditReader(st.events)
    list(reader.records("prices"))
    assert any(segs[0] + ".gz" in x for x in reader.warnings)
    gz.unlink()
    report = verify(st)
    assert not report.ok
    assert any(segs[0] + ".gz" in p and "missing" in p for p in report.failures)


def test_disk_budget_alerts_once_per_crossing():
    """One audit_disk ALERT when usage reaches the ratio; again only after it fell below."""
    budget = DiskBudget(1000, 0.8)
    assert budget.update(500) is None
    alert = budget.update(850)
    assert alert["kind"] == "audit_disk" and alert["percent"] == 85.0
    assert budget.update(900) is None
    assert budget.update(100) is None
    assert budget.update(800)["bytes"] == 800
    assert DiskBudget(0, 0.8).update(10**12) is None
    assert budget.snapshot() == {"disk_bytes": 800, "disk_budget_bytes": 1000,
                                 "disk_percent": 80.0}
    st = written_log(5)
    assert disk_usage(st.events) == sum(p.stat().st_size for p in st.events.rglob("*")
                                        if p.is_file())
    assert (st.events / "merkle" / "level-00.bin").stat().st_size == 5 * 32  # counted too


@pytest.mark.parametrize("key,value", [("archive_after_s", -1), ("disk_budget_bytes", -1),
                                       ("disk_alert_ratio", 1.0), ("disk_alert_ratio", 0)])
def test_bad_archive_and_budget_config_names_the_key(key, value):
    """A bad value refuses with the key's name."""
    with pytest.raises(ValueError, match=key):
        AuditConfig(**{key: value}).validate()


async def test_service_reports_disk_usage_alerts_and_archives_off_the_loop():
    """The writer service's heartbeat shows usage; one audit_disk ALERT; a segment archived."""
    st = written_log()
    segs = manifest(st)
    cfg_path = st.root / "hope.toml"
    cfg_path.write_text("[audit]\nsegment_max_bytes = 2000\narchive_after_s = 0.001\n"
                        "disk_budget_bytes = 1000\ndisk_alert_ratio = 0.5\n")
    config = load(cfg_path, st.root)
    svc = await build(AuditWriterService, Runtime("audit-writer", config,
                                                  LocalBroker().bus("audit-writer")))
    alerts: list[dict] = []

    async def alert(payload: dict) -> None:
        alerts.append(payload)

    svc._alert = alert  # type: ignore[method-assign]
    await svc.check_disk()
    await svc.check_disk()
    assert [a["kind"] for a in alerts] == ["audit_disk"] and alerts[0]["budget"] == 1000
    beat = svc.heartbeat()["audit"]
    assert beat["disk_bytes"] == disk_usage(st.events) and beat["disk_percent"] > 50
    await svc.archive_segments()
    assert manifest(st)[0] == segs[0] + ".gz" and svc.heartbeat()["audit"]["archived"] == 1
    svc.kill()
    assert verify(st).ok


def test_trace_and_report_read_archived_segments():
    """hope trace finds a correlation's records inside an archived segment."""
    st = make_state()
    with writer(st, segment_max_bytes=1500, checkpoint_every_records=1) as w:
        for i in range(1, 30):
            w.append(ev(i, "SIGNAL", corr="c-7" if i == 2 else None,
                        payload={"symbol": "EVXBTC", "strategy": "pump", "price": 1e-5,
                                 "market_ts": 1.7e9}))
            w.sync()
    segs = json.loads((st.events / "manifest.json").read_text())["families"]["signals"]
    w = writer(st, archive_after_s=1.0, clock=ManualClock(time.time() + 1e6))
    assert w.archiver.step(w.sealed_size())
    w.close()
    reader = LocalAuditReader(st.events)
    assert reader.segments("signals")[0] == segs[0] + ".gz"
    hops = trace(reader, "c-7")
    assert len(hops) == 1 and reader.by_correlation("c-7")[0].segment == segs[0] + ".gz"
    assert len(list(reader.records("signals"))) == 29 and not reader.warnings
    assert summarize(LocalAuditReader(st.events))["signals"]["total"] == 29
