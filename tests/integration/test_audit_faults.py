"""The audit log under faults, with real processes: kill the writer, a publisher, the proxy.

Each test runs the real proxy, the real audit writer and two probe emitters (``python -m
hope.testing emit``) that keep a ledger of every event they published. After the fault and the
restart, every ledger event must be in ``events/signals*.jsonl`` exactly once, the publishers'
outboxes must be acknowledged by the writer's durable watermark, no GAP may be recorded and
``hope audit verify --json`` (under a pinned key) must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hope.codec import decode_obj
from hope.testing import Processes, audit_records, read_jsonl, short_tmpdir, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

HOPE = Path(sys.executable).parent / "hope"
COUNT = 2000    # events per emitter ...
RATE = 400      # ... per second: about five seconds of load
FSYNC_MS = 200  # [audit] fsync_interval_ms in these tests


class AuditRig:
    """A state dir with pinned audit keys, its processes, and the checks on its audit log."""

    def __init__(self) -> None:
        self.state = short_tmpdir("hope-af-")
        self.config = self.state / "hope.toml"
        self.config.write_text("[hope]\nlog_level = \"info\"\n")
        out = self.hope("keys", "init")
        assert out.returncode == 0, f"hope keys init failed:\n{out.stdout}{out.stderr}"
        m = re.search(r"key id: (ed25519:[0-9a-f]+)", out.stdout)
        assert m, f"no key id in the output of hope keys init:\n{out.stdout}"
        self.key_id = m.group(1)
        # A wide group-commit window (default 20 ms) so that a SIGKILL always finds records
        # buffered but not yet written: the crash window the writer must survive.
        self.config.write_text(f"[hope]\nlog_level = \"info\"\n\n"
                               f"[audit]\ntrusted_keys = [\"{self.key_id}\"]\n"
                               f"fsync_interval_ms = {FSYNC_MS}\n\n"
                               # the emitters' SIGNALs (hope/authority.py: market data)
                               "[market_clock]\npublishers = [\"emit-a\", \"emit-b\"]\n")
        self.procs = Processes(self.state, env={"HOPE_CONFIG": str(self.config)})
        self.ledgers: dict[str, list[Path]] = {}  # publisher name -> its ledgers

    # processes ----------------------------------------------------------------------------
    def hope(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOPE_CONFIG": str(self.config)}
        return subprocess.run([str(HOPE), *args, "--state-dir", str(self.state)], env=env,
                              capture_output=True, text=True, timeout=60)

    def start_proxy(self) -> None:
        self.procs.proxy()

    def start_writer(self) -> None:
        """Start the audit writer and wait until it is on the bus (logged "started")."""
        before = self.procs.log_text("audit").count('"started"')
        self.procs.service("audit", "audit_writer")
        wait_for(lambda: self.procs.log_text("audit").count('"started"') > before, timeout=20,
                 message="the audit writer to start")

    def emit(self, name: str, count: int = COUNT, rate: int = RATE) -> Path:
        """Start an emitter publishing as ``name``; returns the new ledger it writes."""
        ledgers = self.ledgers.setdefault(name, [])
        ledger = self.state / f"ledger-{name}-{len(ledgers) + 1}.jsonl"
        ledgers.append(ledger)
        self.procs.probe(name, "emit", "--name", name, "--count", str(count), "--rate",
                         str(rate), "--ledger", str(ledger))
        return ledger

    def close(self) -> None:
        self.procs.kill_all()
        if not os.environ.get("HOPE_TEST_KEEP_STATE"):  # set it to inspect a failed run
            shutil.rmtree(self.state, ignore_errors=True)

    # what the publishers sent -------------------------------------------------------------
    @staticmethod
    def sent(ledger: Path) -> list[dict[str, Any]]:
        return [r for r in read_jsonl(ledger) if "event_id" in r]

    def all_sent(self) -> list[dict[str, Any]]:
        return [r for ls in self.ledgers.values() for p in ls for r in self.sent(p)]

    @staticmethod
    def done(ledger: Path) -> bool:
        return any("done" in r for r in read_jsonl(ledger))

    # what the audit log holds -------------------------------------------------------------
    def records(self, family: str = "signals") -> list[dict[str, Any]]:
        return audit_records(self.state, family)

    def logged(self) -> Counter[str]:
        return Counter(r["event_id"] for r in self.records() if "event_id" in r)

    def missing(self) -> list[dict[str, Any]]:
        have = self.logged()
        return [r for r in self.all_sent() if r["event_id"] not in have]

    def acked(self, publisher: str, epoch: str) -> int | None:
        """The writer's durable watermark as the publisher's outbox recorded it (None: no
        marker; the epoch's files are deleted only after it was fully acknowledged)."""
        marker = self.state / "outbox" / publisher / f"{epoch}.acked"
        try:
            return int(decode_obj(marker.read_bytes())["seq"])
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def unacked(self) -> list[str]:
        """Ledger epochs whose highest published seq the watermark does not cover yet."""
        out = []
        for name, ledgers in self.ledgers.items():
            highs: dict[str, int] = {}
            for p in ledgers:
                for r in self.sent(p):
                    highs[r["epoch"]] = max(highs.get(r["epoch"], 0), r["seq"])
            for epoch, high in highs.items():
                acked = self.acked(name, epoch)
                box = self.state / "outbox" / name
                gone = not any(box.glob(f"{epoch}.*"))
                if not gone and (acked or 0) < high:
                    out.append(f"{name}/{epoch}: acked {acked} < sent {high}")
        return out

    def wait_complete(self, timeout: float = 60.0) -> None:
        """Every ledger finished, every sent event in the log, every outbox acknowledged."""
        for ls in self.ledgers.values():  # the latest process of each name runs to the end
            self.wait(lambda p=ls[-1]: self.done(p), timeout, f"{ls[-1].name} to finish")
        self.wait(lambda: not self.missing(), timeout, "every sent event in the audit log")
        self.wait(lambda: not self.unacked(), timeout, "the watermark to cover every outbox")

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        """wait_for, with the diagnosis taken when the deadline passes."""
        try:
            wait_for(predicate, timeout=timeout, message=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnose()}") from None

    def stop_all(self) -> None:
        """SIGTERM emitters, then the writer (final fsync + checkpoint), then the proxy."""
        for name in self.ledgers:
            assert self.procs.stop(name) == 0, self.procs.log_text(name)[-3000:]
        assert self.procs.stop("audit") == 0, self.procs.log_text("audit")[-3000:]
        self.procs.stop("proxy")

    def verify(self) -> dict[str, Any]:
        out = self.hope("audit", "verify", "--json")
        try:
            report = json.loads(out.stdout)
        except ValueError:
            raise AssertionError(f"hope audit verify printed no JSON (exit {out.returncode}):\n"
                                 f"{out.stdout}\n{out.stderr}") from None
        assert out.returncode == 0, (f"hope audit verify failed (exit {out.returncode}):\n"
                                     f"{json.dumps(report, indent=1)[:6000]}\n{self.diagnose()}")
        return report

    def assert_exactly_once(self) -> None:
        """Every ledger event is in the log once; no event_id appears twice; no GAP."""
        logged = self.logged()
        sent = self.all_sent()
        assert sent, "the emitters published nothing"
        missing = [r for r in sent if r["event_id"] not in logged]
        assert not missing, f"{len(missing)} sent events not in the log, e.g. {missing[:5]}"
        doubled = {eid: n for eid, n in logged.items() if n > 1}
        assert not doubled, f"{len(doubled)} events logged more than once, e.g. " \
                            f"{list(doubled.items())[:5]}"
        gaps = [r for p in (self.state / "events").glob("*.jsonl")
                for r in read_jsonl(p) if r.get("event_type") == "GAP"]
        assert not gaps, f"GAP records written: {gaps[:5]}"

    # diagnostics ----------------------------------------------------------------------------
    def diagnose(self) -> str:
        """What a failure needs: missing events by seq, the log's warnings, outbox state."""
        lines = [f"state dir: {self.state}"]
        logged = self.logged()
        lines.append(f"signals logged: {sum(logged.values())} records, {len(logged)} ids")
        missing = self.missing()
        by_stream: dict[tuple[str, str], list[int]] = {}
        for ledgers in self.ledgers.values():
            for p in ledgers:
                sent = self.sent(p)
                lines.append(f"{p.name}: {len(sent)} sent, done={self.done(p)}")
        miss_ids = {r["event_id"] for r in missing}
        for name, ledgers in self.ledgers.items():
            for p in ledgers:
                for r in self.sent(p):
                    if r["event_id"] in miss_ids:
                        by_stream.setdefault((name, r["epoch"]), []).append(r["seq"])
        for (name, epoch), seqs in by_stream.items():
            lines.append(f"missing {name}/{epoch}: {len(seqs)} seqs {_ranges(seqs)[:10]} "
                         f"(acked marker {self.acked(name, epoch)})")
        lines.extend(self.unacked())
        interesting = ("warning", "error", "critical", "gap", "replay", "resent", "torn")
        for log in sorted((self.state / "logs").glob("*.test.log")):
            hits = [ln for ln in log.read_text(errors="replace").splitlines()
                    if any(w in ln.lower() for w in interesting)]
            if hits:
                lines.append(f"--- {log.name} ({len(hits)} notable lines)")
                lines.extend(h[:400] for h in hits[:15])
        return "\n".join(lines)


def _ranges(nums: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(nums):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


@pytest.fixture
def rig() -> Iterator[AuditRig]:
    r = AuditRig()
    try:
        yield r
    finally:
        r.close()


def _started(rig: AuditRig) -> tuple[Path, Path]:
    rig.start_proxy()
    rig.start_writer()
    return rig.emit("emit-a"), rig.emit("emit-b")


def test_audit_writer_sigkilled_under_load_loses_and_doubles_nothing(rig):
    """SIGKILL the audit writer mid-stream and restart it: every sent event is logged once."""
    a, _ = _started(rig)
    wait_for(lambda: len(rig.sent(a)) > 500 and sum(rig.logged().values()) > 500, timeout=30,
             message="load flowing into the log")
    rig.procs.kill("audit")
    killed_at = len(rig.sent(a))
    wait_for(lambda: len(rig.sent(a)) > killed_at + 200, timeout=20,
             message="emitters publishing while the writer is down")
    rig.start_writer()
    rig.wait_complete()
    rig.stop_all()
    rig.assert_exactly_once()
    report = rig.verify()
    assert report["gaps"] == [] and report["records"] >= 2 * COUNT


def test_publisher_sigkilled_under_load_loses_and_doubles_nothing(rig):
    """SIGKILL a publisher mid-stream and restart it under its name: its events are logged once."""
    a, _ = _started(rig)
    wait_for(lambda: len(rig.sent(a)) > 600, timeout=30, message="emit-a publishing")
    rig.procs.kill("emit-a")
    killed = rig.sent(a)
    assert len(killed) < COUNT and not rig.done(a), "emit-a finished before it was killed"
    rig.emit("emit-a", count=400)
    rig.wait_complete()
    rig.stop_all()
    rig.assert_exactly_once()
    report = rig.verify()
    assert report["gaps"] == []
    logged = rig.logged()
    assert all(logged[r["event_id"]] == 1 for r in killed)


def test_proxy_restarted_under_load_loses_and_doubles_nothing(rig):
    """SIGKILL the proxy mid-stream and start a new one: every sent event is logged once."""
    a, _ = _started(rig)
    wait_for(lambda: len(rig.sent(a)) > 500, timeout=30, message="emit-a publishing")
    rig.procs.kill("proxy")
    killed_at = len(rig.sent(a))
    wait_for(lambda: len(rig.sent(a)) > killed_at + 100, timeout=20,
             message="emitters publishing while the proxy is down")
    rig.start_proxy()
    rig.wait_complete()
    rig.stop_all()
    rig.assert_exactly_once()
    report = rig.verify()
    assert report["gaps"] == [] and report["records"] >= 2 * COUNT
