"""Attacks on the audit log by someone who can write to ``state/``, each on a copy of one real
run's log, each asserting the exact failure (README, "Reliability: attacks on the audit log").

The run (once per module): the real proxy, audit writer, decision engine and a witness process
with its own state dir (standing in for another machine); a probe publishes SIGNALs, the
operator CLI halts and resumes trading (CONTROL). Every attack copies ``events/``,
``checkpoint-copy/`` and ``keys/``, tampers with the copy, then runs ``hope audit verify`` (in
process, and through the CLI for the witness case) or restarts the writer on it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hope.audit.canonical import record_hash, seal
from hope.audit.checkpoints import make_checkpoint, parse_line
from hope.audit.config import AuditConfig
from hope.audit.keys import load_signer
from hope.audit.merkle import MerkleTree, record_leaf
from hope.audit.note import Checkpoint, split_note
from hope.audit.startup import AuditStartError
from hope.audit.verify import verify
from hope.audit.witness_client import WitnessClient
from hope.audit.writer import AuditWriter
from hope.clock import ManualClock
from hope.envelope import compute_event_id
from hope.paths import StatePaths
from hope.testing import Processes, audit_records, short_tmpdir, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOPE = Path(sys.executable).parent / "hope"
SIGNALS = 300


class Run:
    """The real run's state dir, its pinned key, and the witness that watched it."""

    def __init__(self) -> None:
        self.state = short_tmpdir("hope-atk-")
        self.wstate = short_tmpdir("hope-wit-")
        self.config = self.state / "hope.toml"
        self.config.write_text('[hope]\nlog_level = "info"\n')
        out = self.hope("keys", "init")
        self.key_id = re.search(r"key id: (ed25519:[0-9a-f]+)", out.stdout).group(1)
        self.vkey = self.hope("keys", "vkey").stdout.strip()
        wconf = self.wstate / "witness.toml"
        wconf.write_text(f'[witness]\nport = 0\nlogs = ["{self.vkey}"]\n')
        self.procs = Processes(self.state, env={"HOPE_CONFIG": str(self.config)})
        self.procs.service("witness", "witness", "--state-dir", str(self.wstate),
                           "--config", str(wconf))
        addr = self.wstate / "witness" / "address.json"
        wait_for(addr.exists, timeout=20, message="the witness to listen")
        info = json.loads(addr.read_text())
        self.witness_url = f"http://127.0.0.1:{info['port']}"
        self.witness_vkey = info["vkey"]
        self.config.write_text(
            f'[hope]\nlog_level = "info"\n\n[audit]\ntrusted_keys = ["{self.key_id}"]\n'
            f'witnesses = ["{self.witness_url} {self.witness_vkey}"]\nwitness_interval_s = 0.3\n'
            'checkpoint_every_records = 64\n')

    def hope(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOPE_CONFIG": str(self.config)}
        return subprocess.run([str(HOPE), *args, "--state-dir", str(self.state)], env=env,
                              capture_output=True, text=True, timeout=60)

    def run(self) -> None:
        self.procs.proxy()
        for key, module in (("audit", "audit_writer"), ("decision", "decision_engine")):
            self.procs.service(key, module)
            wait_for(lambda k=key: '"started"' in self.procs.log_text(k), timeout=30,
                     message=f"{key} to start")
        self.procs.probe("emit", "emit", "--name", "scanner", "--count", str(SIGNALS),
                         "--rate", "300", "--ledger", str(self.state / "ledger.jsonl"))
        assert self.hope("trading", "halt").returncode == 0
        assert self.hope("trading", "resume").returncode == 0
        wait_for(lambda: len(audit_records(self.state, "decisions", unique=True)) >= SIGNALS,
                 timeout=60, message="a DECISION for every SIGNAL")
        wait_for(lambda: sum(r["event_type"] == "CONTROL"
                             for r in audit_records(self.state, "system")) >= 2,
                 timeout=30, message="both CONTROL records")
        client = WitnessClient(self.witness_url)
        wait_for(lambda: self.witnessed(client) >= 2 * SIGNALS, timeout=30,
                 message="the witness to cosign a checkpoint of every SIGNAL and DECISION")
        for key in ("decision", "audit"):
            assert self.procs.stop(key) == 0
        self.procs.stop("emit")

    def witnessed(self, client: WitnessClient) -> int:
        """The tree size the witness cosigned (0 while there is none or a line is half written)."""
        try:
            note = client.latest(self.origin)
            return Checkpoint.parse(split_note(note)[0]).size if note else 0
        except (OSError, ValueError):
            return 0

    @property
    def origin(self) -> str:
        cps = (self.state / "events" / "checkpoints.jsonl").read_bytes().splitlines()
        return parse_line(cps[-1], None).checkpoint.origin if cps else ""

    def close(self) -> None:
        self.procs.kill_all()
        if not os.environ.get("HOPE_TEST_KEEP_STATE"):
            shutil.rmtree(self.state, ignore_errors=True)
            shutil.rmtree(self.wstate, ignore_errors=True)


@pytest.fixture(scope="module")
def real_run() -> Iterator[Run]:
    run = Run()
    try:
        run.run()
        yield run
    finally:
        run.close()


@pytest.fixture
def copy(real_run: Run, tmp_path: Path) -> StatePaths:
    """A copy of the run's log (records, checkpoints, keys) to attack."""
    dst = StatePaths.at(short_tmpdir("hope-cpy-"))
    for name in ("events", "checkpoint-copy", "keys"):
        shutil.copytree(real_run.state / name, dst.root / name)
    dst.ensure()
    yield dst
    shutil.rmtree(dst.root, ignore_errors=True)


# --- helpers: what an attacker does ----------------------------------------------------------

def rows(st: StatePaths, fam: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (st.events / f"{fam}.jsonl").read_text().splitlines()]


def write_rows(st: StatePaths, fam: str, recs: list[dict[str, Any]], rechain: bool) -> None:
    """Write a family back; with ``rechain`` every event id, hash and link is recomputed."""
    prev = "0" * 64
    out = []
    for rec in recs:
        rec = {k: v for k, v in rec.items() if k != "hash"}
        if rechain:  # a thorough forger: event id, link and hash all recomputed
            rec["event_id"] = compute_event_id(rec["event_type"], rec["correlation_id"],
                                               rec["timestamp"], rec["payload"])
            rec["prev_hash"] = prev
            prev, line = seal(rec)
            out.append(line)
        else:
            out.append((json.dumps({**rec, "hash": record_hash(rec)}) + "\n").encode())
    (st.events / f"{fam}.jsonl").write_bytes(b"".join(out))


def cp_lines(st: StatePaths) -> list[bytes]:
    return (st.events / "checkpoints.jsonl").read_bytes().splitlines(keepends=True)


def set_cp_lines(st: StatePaths, lines: list[bytes]) -> None:
    for p in (st.events / "checkpoints.jsonl", st.checkpoint_copy / "checkpoints.jsonl"):
        p.write_bytes(b"".join(lines))


def delete_checkpoints(st: StatePaths) -> None:
    for p in (st.events / "checkpoints.jsonl", st.checkpoint_copy / "checkpoints.jsonl"):
        p.unlink()


def resign_everything(st: StatePaths) -> None:
    """With the private key from state/keys: recompute the tree and re-sign every checkpoint."""
    signer = load_signer(st.keys)
    lines: dict[int, bytes] = {}
    chains: dict[str, list[str]] = {}
    for p in sorted(st.events.glob("*.jsonl")):
        if p.name == "checkpoints.jsonl":
            continue
        fam = p.name.split(".")[0]
        for raw in p.read_bytes().splitlines():
            rec = json.loads(raw)
            lines[rec["leaf"]] = raw
            chains.setdefault(fam, ["0" * 64]).append(rec["hash"])
    tree = MerkleTree()
    for i in range(len(lines)):
        tree.append(record_leaf(json.loads(lines[i])["hash"]))
    out = []
    for raw in cp_lines(st):
        cp = parse_line(raw, None).checkpoint
        fams = {f: (n, chains[f][n]) for f, (n, _) in cp.families.items()}
        out.append(make_checkpoint(signer, cp.origin, tree, cp.size, fams, cp.time,
                                   cp.previous).to_line())
    set_cp_lines(st, out)


def independent(root: Path, key_id: str) -> subprocess.CompletedProcess:
    """tests/independent_verifier.py (docs/AUDIT.md's rules, no hope import) on a state dir."""
    return subprocess.run([sys.executable, str(Path(__file__).parents[1] / "independent_verifier.py"),
                           str(root), key_id], capture_output=True, text=True, timeout=60)


def restart_writer(st: StatePaths, key_id: str, **cfg: Any) -> AuditWriter:
    return AuditWriter(st, AuditConfig(**cfg), ManualClock(time.time()), pinned=[key_id])


def failures(st: StatePaths, key_id: str, **kw: Any) -> list[str]:
    r = verify(st, [key_id], **kw)
    assert not r.ok, "verify passed a tampered log"
    return r.failures


# --- the attacks --------------------------------------------------------------------------

def test_the_real_run_verifies_and_so_does_the_independent_verifier(real_run: Run) -> None:
    """The untouched log passes `hope audit verify --strict --witness` and the verifier
    written from docs/AUDIT.md alone."""
    out = real_run.hope("audit", "verify", "--strict", "--witness")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"witness http://127\.0\.0\.1:\d+: cosigned size \d+", out.stdout)
    ind = independent(real_run.state, real_run.key_id)
    assert ind.returncode == 0 and ind.stdout.startswith("OK "), ind.stdout + ind.stderr


def test_edit_a_decision_in_the_middle(real_run: Run, copy: StatePaths) -> None:
    """An edited DECISION fails its hash at its line, and the Merkle roots over it."""
    recs = rows(copy, "decisions")
    mid = len(recs) // 2
    recs[mid]["payload"]["action"] = "BUY"
    lines = (copy.events / "decisions.jsonl").read_text().splitlines()
    lines[mid] = json.dumps(recs[mid], sort_keys=True, separators=(",", ":"))
    (copy.events / "decisions.jsonl").write_text("\n".join(lines) + "\n")
    f = failures(copy, real_run.key_id)
    assert f"events/decisions.jsonl:{mid + 1}: hash does not match the record's content" in f
    assert any("Merkle root does not match the records" in x for x in f)
    ind = independent(copy.root, real_run.key_id)
    assert ind.returncode == 1 and f"events/decisions.jsonl:{mid + 1}: hash" in ind.stdout


def test_rechained_rewrite_with_both_checkpoint_copies_deleted_then_restart(
        real_run: Run, copy: StatePaths) -> None:
    """Rewrite + recomputed chain + no checkpoints: the writer refuses to start (naming the
    checkpoint file) and plain verify fails (records with no checkpoint)."""
    recs = rows(copy, "decisions")
    recs[3]["payload"]["confidence"] = 0.99
    write_rows(copy, "decisions", recs, rechain=True)
    delete_checkpoints(copy)
    with pytest.raises(AuditStartError, match=r"^events/checkpoints\.jsonl: checkpoint file\(s\) "
                       r"missing \(events/checkpoints\.jsonl, checkpoint-copy/checkpoints\.jsonl\) "
                       "while the log holds records$"):
        restart_writer(copy, real_run.key_id)
    expected = f"decisions: {len(recs)} record(s) and no checkpoint covering any of them"
    assert expected in failures(copy, real_run.key_id)


def test_forged_control_record_appended_then_restart(real_run: Run, copy: StatePaths) -> None:
    """A self-consistent CONTROL appended after the last checkpoint is never sealed: the
    restarted writer quarantines it, records AUDIT_QUARANTINE, and AUDIT_TAIL_UNCONFIRMED once
    no publisher sends it again; the forged record is not in the log."""
    system = rows(copy, "system")
    control = next(r for r in system if r["event_type"] == "CONTROL")
    forged = {**control, "payload": {**control["payload"], "command": "resume"},
              "timestamp": "2026-12-01T00:00:00.000000Z", "prev_hash": system[-1]["hash"],
              "leaf": 1 + max(json.loads(x)["leaf"] for p in copy.events.glob("*.jsonl")
                              if p.name != "checkpoints.jsonl"
                              for x in p.read_text().splitlines())}
    forged["event_id"] = compute_event_id(forged["event_type"], forged["correlation_id"],
                                          forged["timestamp"], forged["payload"])
    _, line = seal({k: v for k, v in forged.items() if k != "hash"})
    with open(copy.events / "system.jsonl", "ab") as fh:
        fh.write(line)
    assert any(x.startswith("system: 1 record(s) after the last checkpoint")
               for x in verify(copy, [real_run.key_id], strict=True).warnings)
    clock = ManualClock()
    w = AuditWriter(copy, AuditConfig(tail_confirm_s=1.0), clock, pinned=[real_run.key_id])
    assert w.stats["tail_quarantined"] == 1
    clock.advance(2)
    w.tick()
    w.close()
    kinds = [r["event_type"] for r in rows(copy, "system")]
    assert kinds[-2:] == ["AUDIT_QUARANTINE", "AUDIT_TAIL_UNCONFIRMED"]
    assert forged["event_id"] not in {r["event_id"] for r in rows(copy, "system")}
    assert rows(copy, "system")[-1]["payload"]["event_ids"] == [forged["event_id"]]
    assert verify(copy, [real_run.key_id], strict=True).ok


def test_rollback_of_log_and_both_checkpoint_copies_is_caught_by_the_witness(
        real_run: Run, copy: StatePaths) -> None:
    """Dropping the newest records of every family and their checkpoints is self-consistent
    locally, but the witness holds a larger tree: a rollback."""
    keep = 2
    cp = parse_line(cp_lines(copy)[keep - 1], None).checkpoint
    for fam in json.loads((copy.events / "manifest.json").read_text())["families"]:
        n = cp.families.get(fam, (0, ""))[0]
        lines = (copy.events / f"{fam}.jsonl").read_bytes().splitlines(keepends=True)[:n]
        (copy.events / f"{fam}.jsonl").write_bytes(b"".join(lines))
    set_cp_lines(copy, cp_lines(copy)[:keep])
    assert verify(copy, [real_run.key_id], strict=True).ok  # locally a consistent prefix
    restart_writer(copy, real_run.key_id).close()  # and the writer would build on it
    f = failures(copy, real_run.key_id, witnesses=[WitnessClient(real_run.witness_url,
                                                                 real_run.witness_vkey)])
    assert any(re.fullmatch(rf"witness {real_run.witness_url}: rollback: the witness cosigned a "
                            r"tree of \d+ records, the log's last checkpoint covers \d+", x)
               for x in f), f


def test_deleted_family_file(real_run: Run, copy: StatePaths) -> None:
    """Deleting every DECISION (file and manifest entry): the family is named as missing by
    verify and by the writer, which refuses to start."""
    n = len(rows(copy, "decisions"))
    (copy.events / "decisions.jsonl").unlink()
    mpath = copy.events / "manifest.json"
    manifest = json.loads(mpath.read_text())
    del manifest["families"]["decisions"]
    mpath.write_text(json.dumps(manifest))
    assert any(re.fullmatch(r"decisions: family missing \(checkpoints cover \d+ of its "
                            r"records\)", x) for x in failures(copy, real_run.key_id))
    with pytest.raises(AuditStartError, match=r"^decisions: family missing \(the last "
                       rf"checkpoint covers {n} of its records\)$"):
        restart_writer(copy, real_run.key_id)


def test_reversed_checkpoints(real_run: Run, copy: StatePaths) -> None:
    """Checkpoints in reverse order: verify and the writer name the first line that shrinks."""
    set_cp_lines(copy, cp_lines(copy)[::-1])
    assert any(re.fullmatch(r"events/checkpoints\.jsonl:2: tree size \d+ is smaller than \d+ at "
                            r"events/checkpoints\.jsonl:1 \(checkpoints reordered or rolled "
                            r"back\)", x) for x in failures(copy, real_run.key_id))
    with pytest.raises(AuditStartError, match=r"^events/checkpoints\.jsonl:2: tree size"):
        restart_writer(copy, real_run.key_id)


def test_a_checkpoint_deleted_in_the_middle_of_both_copies(real_run: Run,
                                                          copy: StatePaths) -> None:
    """Each checkpoint names the size of the one before: a missing one is named."""
    lines = cp_lines(copy)
    gone = parse_line(lines[2], None).checkpoint.size
    set_cp_lines(copy, lines[:2] + lines[3:])
    assert any(re.fullmatch(rf"events/checkpoints\.jsonl:3: follows a checkpoint of size {gone}, "
                            r"but the one before it here covers \d+ \(a checkpoint is missing\)",
                            x) for x in failures(copy, real_run.key_id))


def test_no_checkpoints_and_a_rewrite_fails_plain_verify(real_run: Run, copy: StatePaths) -> None:
    """Without any checkpoint, plain verify (no --strict) fails for every family."""
    recs = rows(copy, "signals")
    recs[0]["payload"]["price"] = 123.0
    write_rows(copy, "signals", recs, rechain=True)
    delete_checkpoints(copy)
    f = failures(copy, real_run.key_id)
    assert f"signals: {len(recs)} record(s) and no checkpoint covering any of them" in f


def test_resigned_with_the_key_beside_the_log_is_a_fork_at_the_witness(
        real_run: Run, copy: StatePaths) -> None:
    """Rewrite, recompute chains and tree, re-sign every checkpoint with state/keys' private
    key: locally valid, but the witness holds another root at its size (a fork); the CLI says
    so and exits 1."""
    recs = rows(copy, "decisions")
    recs[1]["payload"]["confidence"] = 0.01
    write_rows(copy, "decisions", recs, rechain=True)
    resign_everything(copy)
    assert verify(copy, [real_run.key_id], strict=True).ok
    f = failures(copy, real_run.key_id, witnesses=[WitnessClient(real_run.witness_url,
                                                                 real_run.witness_vkey)])
    assert f"witness {real_run.witness_url}: fork: the witness cosigned another root at size " \
        in f[0]
    (copy.root / "hope.toml").write_text(real_run.config.read_text())
    out = subprocess.run([str(HOPE), "audit", "verify", "--witness", "--state-dir",
                          str(copy.root), "--config", str(copy.root / "hope.toml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "fork: the witness cosigned another root" in out.stdout


def test_deeply_nested_line_neither_crashes_verify_nor_the_writer(
        real_run: Run, copy: StatePaths) -> None:
    """A 1,500-level nested line: inside the log, verify names it and the writer refuses
    naming file:line; at the tail, the writer quarantines it and starts."""
    deep = b"[" * 1500 + b"]" * 1500
    lines = (copy.events / "signals.jsonl").read_bytes().splitlines(keepends=True)
    assert "events/signals.jsonl:6: nested deeper than 32 levels" in failures(
        _with_line(copy, "signals", lines, 5, deep), real_run.key_id)
    with pytest.raises(AuditStartError, match=r"^events/signals\.jsonl:6: nested deeper than "
                       "32 levels$"):
        restart_writer(copy, real_run.key_id)
    (copy.events / "signals.jsonl").write_bytes(b"".join(lines) + deep + b"\n")
    w = restart_writer(copy, real_run.key_id)
    assert w.stats["tail_quarantined"] == 0 and w.tail.unreadable == 1
    w.close()
    assert verify(copy, [real_run.key_id], strict=True).ok


def _with_line(st: StatePaths, fam: str, lines: list[bytes], i: int, raw: bytes) -> StatePaths:
    (st.events / f"{fam}.jsonl").write_bytes(b"".join(lines[:i] + [raw + b"\n"] + lines[i + 1:]))
    return st


def test_checkpoint_time_edited_in_both_copies(real_run: Run, copy: StatePaths) -> None:
    """The time is in the signed body: editing it breaks the signature at that line."""
    lines = cp_lines(copy)
    entry = json.loads(lines[0])
    entry["note"] = re.sub(r"time \S+", "time 2020-01-01T00:00:00.000000Z", entry["note"])
    lines[0] = (json.dumps(entry) + "\n").encode()
    set_cp_lines(copy, lines)
    assert "events/checkpoints.jsonl:1: bad checkpoint signature" in failures(copy,
                                                                              real_run.key_id)


def test_writer_sigkilled_while_pushing_to_the_witness_needs_no_operator(real_run: Run) -> None:
    """SIGKILL the writer under load while it pushes every 0.3 s, restart it: every event is
    audited once, the witness accepts the restarted writer's checkpoints, verify --witness OK.
    (Runs last: it grows the run's log.)"""
    procs = real_run.procs
    ledger = real_run.state / "ledger-2.jsonl"
    procs.service("audit", "audit_writer")
    wait_for(lambda: procs.log_text("audit").count('"started"') >= 2, timeout=30,
             message="the writer to start again")
    procs.probe("emit2", "emit", "--name", "scanner", "--count", "1500", "--rate", "500",
                "--ledger", str(ledger))
    client = WitnessClient(real_run.witness_url)

    def sent() -> list[str]:
        text = ledger.read_text() if ledger.exists() else ""
        return [json.loads(x)["event_id"] for x in text.splitlines() if "event_id" in x]

    wait_for(lambda: len(sent()) >= 300, timeout=30, message="the load to be under way")
    before = real_run.witnessed(client)
    wait_for(lambda: real_run.witnessed(client) > before, timeout=30,
             message="a push during the load")
    procs.kill("audit")
    procs.service("audit", "audit_writer")
    wait_for(lambda: '"done"' in ledger.read_text(), timeout=60, message="the emitter to finish")
    audited = lambda: [r["event_id"] for r in audit_records(real_run.state, "signals")]  # noqa: E731
    wait_for(lambda: set(sent()) <= set(audited()), timeout=60,
             message="every event audited after the restart")
    assert len(audited()) == len(set(audited()))
    size = parse_line(cp_lines(StatePaths.at(real_run.state))[-1], None).checkpoint.size
    wait_for(lambda: real_run.witnessed(client) >= size, timeout=30,
             message="the witness to cosign the restarted writer's checkpoints")
    assert procs.stop("audit") == 0
    out = real_run.hope("audit", "verify", "--witness")
    assert out.returncode == 0, out.stdout + out.stderr
