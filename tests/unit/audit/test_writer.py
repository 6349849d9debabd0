"""AuditWriter: chained records, exactly once, watermarks, group commit, crash and disk-full safety."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
from pathlib import Path

import pytest

from hope.audit.canonical import GENESIS, record_hash
from hope.audit.config import AuditConfig
from hope.audit.keys import init_keys
from hope.audit.note import Checkpoint, split_note
from hope.audit.verify import verify
from hope.audit.writer import AuditUnavailable, AuditWriter
from hope.bus.cursor import StreamCursor
from hope.clock import ManualClock
from hope.envelope import new_event
from hope.tails import read_quarantined
from hope.testing import async_wait_for
from tests.helpers import ev, make_state, writer


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def seal(w: AuditWriter) -> None:
    """Write, sign a checkpoint, make it durable: what moves the watermark."""
    w.sync()
    w.checkpoint()
    w.sync()


def cp_sizes(path: Path) -> list[int]:
    """Tree sizes of the checkpoints in ``path``."""
    return [Checkpoint.parse(split_note(x["note"].encode())[0]).size for x in lines(path)]


def test_records_are_chained_per_family_and_routed_by_type():
    """Each family file holds its own chain: prev_hash links, hash recomputes, types routed."""
    st = make_state()
    with writer(st) as w:
        for i in (1, 2, 3):
            w.append(ev(i))
        w.append(ev(4, "CONTROL", payload={"service": "scanner", "command": "pause"}))
    prices = lines(st.events / "prices.jsonl")
    assert [r["seq"] for r in prices] == [1, 2, 3]
    assert prices[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in prices[1:]] == [r["hash"] for r in prices[:-1]]
    assert all(r["hash"] == record_hash(r) for r in prices)
    assert lines(st.events / "system.jsonl")[0]["event_type"] == "CONTROL"


def test_duplicates_are_dropped_also_after_restart():
    """The same event_id is written once, even when redelivered after the writer restarts."""
    st = make_state()
    e = ev(1)
    with writer(st) as w:
        assert w.append(e) is True
        assert w.append(e) is False
    with writer(st) as w:
        assert w.append(e) is False
        assert w.stats["duplicates"] == 1
    assert len(lines(st.events / "prices.jsonl")) == 1


def test_watermark_is_contiguous_and_only_advances_on_a_durable_checkpoint():
    """The watermark is the highest contiguous seq sealed by a durable checkpoint."""
    st = make_state()
    w = writer(st)
    for i in (1, 2, 4):
        w.append(ev(i))
    assert w.watermarks() == {}
    w.sync()
    assert w.watermarks() == {}  # fsynced, not yet sealed
    w.checkpoint()
    assert w.watermarks() == {}  # sealed, the checkpoint not yet fsynced
    w.sync()
    assert w.watermarks() == {"scanner": {"e1": 2}}
    assert w.holes() == [("scanner", "e1", 3, 3)]
    w.append(ev(3))
    assert w.watermarks() == {"scanner": {"e1": 2}}
    seal(w)
    assert w.watermarks() == {"scanner": {"e1": 4}}
    w.close()
    assert writer(st).watermarks() == {"scanner": {"e1": 4}}


def test_group_commit_fsyncs_by_count_and_by_time():
    """fsync happens after fsync_max_records records or fsync_interval_ms, not per record."""
    st = make_state()
    calls = []
    clock = ManualClock()
    w = AuditWriter(st, AuditConfig(fsync_max_records=10, fsync_interval_ms=50), clock,
                    fsync=lambda fd: calls.append(fd))
    for i in range(1, 10):
        w.append(ev(i))
    assert calls == []
    w.append(ev(10))
    assert len(calls) >= 1
    n = len(calls)
    w.append(ev(11))
    w.tick()
    assert len(calls) == n
    clock.advance(0.05)
    w.tick()
    assert len(calls) > n


def test_checkpoints_are_signed_and_copied():
    """A checkpoint seals every checkpoint_every_records records, identical in the local copy."""
    st = make_state()
    w = writer(st, checkpoint_every_records=5)
    for i in range(1, 13):
        w.append(ev(i))
        w.sync()
    main = (st.events / "checkpoints.jsonl").read_text()
    assert main == (st.checkpoint_copy / "checkpoints.jsonl").read_text()
    assert cp_sizes(st.events / "checkpoints.jsonl") == [5, 10]
    w.close()
    assert cp_sizes(st.events / "checkpoints.jsonl")[-1] == 12
    assert verify(st).ok


def test_an_idle_writer_makes_its_last_checkpoint_durable():
    """With no more events, the timer still fsyncs the last checkpoint: the watermark and the
    checkpoint offered to witnesses catch up without waiting for traffic."""
    st = make_state()
    clock = ManualClock()
    w = writer(st, clock, checkpoint_interval_ms=50, fsync_interval_ms=20)
    w.background_sync = True
    w.append(ev(1))
    for _ in range(4):
        clock.advance(0.05)
        w.tick()
    assert w.watermarks() == {"scanner": {"e1": 1}}
    assert w.durable_checkpoint is not None and w.durable_checkpoint.checkpoint.size == 1
    w.close()


def test_checkpoint_time_deadline_seals_a_slow_trickle():
    """Fewer records than the count still get sealed once checkpoint_interval_ms has passed."""
    st = make_state()
    clock = ManualClock()
    w = writer(st, clock, checkpoint_interval_ms=50)
    w.append(ev(1))
    w.sync()
    assert verify(st).unsealed == {"prices": 1}
    clock.advance(0.05)
    w.tick()
    assert verify(st).unsealed == {}


def test_gap_record_advances_the_watermark_and_survives_restart():
    """record_gap writes a GAP record; the watermark passes the lost range, also after restart."""
    st = make_state()
    w = writer(st)
    w.append(ev(1))
    w.append(ev(5))
    w.record_gap("scanner", "e1", 2, 4)
    w.close()
    assert w.watermarks() == {"scanner": {"e1": 5}}
    gap = lines(st.events / "system.jsonl")[0]
    assert gap["event_type"] == "GAP" and gap["payload"]["from"] == 2
    assert writer(st).watermarks() == {"scanner": {"e1": 5}}
    assert verify(st).ok and len(verify(st).gaps) == 1
    with pytest.raises(ValueError):
        w.record_gap("scanner", "e1", 3, 2)


def test_torn_tail_is_quarantined_and_the_chain_continues():
    """A partial last line goes to quarantine; new records link to the last good one."""
    st = make_state()
    with writer(st) as w:
        w.append(ev(1))
        w.append(ev(2))
    path = st.events / "prices.jsonl"
    good = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b'{"event_type":"PRICE","seq":3,"pay')
    with writer(st) as w:
        assert path.read_bytes() == good
        w.append(ev(3))
    (torn,) = read_quarantined(st.quarantine, "audit-tail-prices")
    assert torn["data"] == b'{"event_type":"PRICE","seq":3,"pay'
    assert torn["where"] == f"{path}:@{len(good)}"
    recs = lines(path)
    assert recs[2]["prev_hash"] == recs[1]["hash"]
    assert verify(st).ok


def test_invalid_complete_last_line_is_quarantined_too():
    """A complete last line whose hash does not recompute (zeroed blocks) is moved aside."""
    st = make_state()
    with writer(st) as w:
        w.append(ev(1))
    path = st.events / "prices.jsonl"
    with open(path, "ab") as fh:
        fh.write(b"\0\0\0\0\n")
    with writer(st) as w:
        w.append(ev(2))
    assert len(lines(path)) == 2
    assert verify(st).ok


class FlakyDisk:
    """An os.write that fails with ENOSPC while ``full``, optionally after writing a few bytes."""

    def __init__(self, partial: int = 0) -> None:
        self.full = False
        self.partial = partial

    def __call__(self, fd: int, data) -> int:
        if self.full:
            if self.partial:
                n = os.write(fd, bytes(data[: self.partial]))
                self.partial = 0
                return n
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


@pytest.mark.parametrize("partial", [0, 7])
def test_disk_full_stops_the_watermark_keeps_records_and_resumes(partial):
    """ENOSPC: watermark frozen, nothing lost, loud error; writes resume when space returns."""
    st = make_state()
    disk = FlakyDisk(partial)
    clock = ManualClock()
    w = AuditWriter(st, AuditConfig(), clock, write=disk)
    w.append(ev(1))
    w.sync()
    seal(w)
    disk.full = True
    for i in range(2, 6):
        w.append(ev(i))
    assert w.sync() is False
    assert w.disk_full and w.watermarks() == {"scanner": {"e1": 1}}
    w.tick()
    assert w.watermarks() == {"scanner": {"e1": 1}}
    disk.full = False
    w.tick()
    assert not w.disk_full
    seal(w)
    assert w.watermarks() == {"scanner": {"e1": 5}}
    w.close()
    assert [r["seq"] for r in lines(st.events / "prices.jsonl")] == [1, 2, 3, 4, 5]
    assert verify(st).ok


def test_disk_full_past_the_buffer_bound_refuses_new_events():
    """With the disk full and the buffer at max_pending_bytes, append raises AuditUnavailable."""
    st = make_state()
    disk = FlakyDisk()
    w = AuditWriter(st, AuditConfig(max_pending_bytes=1000), ManualClock(), write=disk)
    disk.full = True
    w.append(ev(1))
    w.sync()
    w.append(ev(2))
    with pytest.raises(AuditUnavailable):
        w.append(ev(3))
    assert w.stats["refused"] == 1
    disk.full = False
    w.tick()
    seal(w)
    assert w.watermarks() == {"scanner": {"e1": 2}}
    assert w.append(ev(3)) is True


def test_heartbeats_are_summarised_not_written_one_by_one():
    """HEARTBEATs produce one HEARTBEAT_SUMMARY per service per window; WATERMARKs are ignored."""
    st = make_state()
    clock = ManualClock()
    w = writer(st, clock, heartbeat_summary_s=10)
    for i in range(3):
        hb = new_event("HEARTBEAT", {"service": "scanner", "pid": 1}, source="scanner",
                       timestamp=f"2026-02-02T15:00:0{i}.000000Z")
        assert w.append(hb) is False
    assert w.append(new_event("WATERMARK", {"watermarks": {}}, source="x")) is False
    w.tick()
    assert not (st.events / "system.jsonl").exists()
    clock.advance(10)
    w.tick()
    w.close()
    recs = lines(st.events / "system.jsonl")
    assert len(recs) == 1 and recs[0]["event_type"] == "HEARTBEAT_SUMMARY"
    assert recs[0]["payload"]["count"] == 3 and recs[0]["payload"]["service"] == "scanner"


def test_segments_rotate_by_size_and_the_chain_continues():
    """Past segment_max_bytes a new segment starts; the manifest lists them; verify passes."""
    st = make_state()
    with writer(st, segment_max_bytes=600, checkpoint_every_records=1) as w:
        for i in range(1, 21):
            w.append(ev(i))
            w.sync()
    manifest = json.loads((st.events / "manifest.json").read_text())["families"]["prices"]
    assert manifest[0] == "prices.jsonl" and manifest[1] == "prices.000002.jsonl"
    first_of_2 = lines(st.events / manifest[1])[0]
    assert first_of_2["prev_hash"] == lines(st.events / manifest[0])[-1]["hash"]
    report = verify(st)
    assert report.ok and report.records == 20 and report.files == len(manifest)
    with writer(st, segment_max_bytes=600) as w:  # reopening continues the last segment
        w.append(ev(21))
    assert verify(st).ok


def test_key_rotation_keeps_old_checkpoints_verifiable():
    """After `rotate`, checkpoints of both keys verify when both ids are pinned."""
    from hope.audit.keys import rotate_keys
    st = make_state()
    old, _ = init_keys(st.keys)
    with writer(st) as w:
        w.append(ev(1))
    _, new = rotate_keys(st.keys)
    with writer(st) as w:
        w.append(ev(2))
    assert verify(st, [old.key_id, new.key_id]).ok
    assert not verify(st, [new.key_id]).ok
    assert verify(st).ok  # fallback: every public key kept in keys/


def test_seq_track_holes_and_ranges():
    """The writer's tracker keeps a contiguous prefix, reports holes and absorbs GAP ranges."""
    t = StreamCursor()
    for s in (1, 2, 5, 9):
        t.add(s)
    assert t.low == 2 and t.holes() == [(3, 4), (6, 8)]
    t.cover(3, 4)
    assert t.low == 5
    t.cover(6, 8)
    assert t.low == 9 and t.holes() == []


def test_resent_event_under_a_new_seq_is_accounted_not_written_twice():
    """An audited event republished as seq 1 of a new epoch: one record, a DUPLICATE note for the
    seq, the watermark moves on and verify passes."""
    from hope.audit.keys import init_keys
    from hope.audit.verify import verify

    st = make_state()
    init_keys(st.keys)
    order = {"symbol": "EVXBTC", "order_id": "hope-1", "status": "NEW", "quantity": 1.0}
    ts = "2026-02-02T15:00:00.000001Z"
    with writer(st) as w:
        first = ev(1, "ORDER", publisher="executor", epoch="e1", corr="c1", ts=ts, payload=order)
        again = ev(1, "ORDER", publisher="executor", epoch="e2", corr="c1", ts=ts, payload=order)
        assert w.append(first) and not w.append(again)
        w.append(ev(2, "PRICE", publisher="executor", epoch="e2"))
        w.sync()
        w.checkpoint()
        w.sync()
        assert w.watermarks()["executor"] == {"e1": 1, "e2": 2}
    report = verify(st)
    assert report.ok, report.failures


def test_new_family_while_disk_full_is_deferred_not_lost(monkeypatch):
    """A record whose family file or manifest cannot be created (ENOSPC) waits in memory, in
    order; nothing is acknowledged past it, and it lands in a listed segment once space returns."""
    import hope.audit.log as audit_log

    st = make_state()
    disk = FlakyDisk()
    real_atomic = audit_log.atomic_write

    def atomic(path, data, **kw):
        if disk.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_atomic(path, data, **kw)

    monkeypatch.setattr(audit_log, "atomic_write", atomic)
    w = AuditWriter(st, AuditConfig(), ManualClock(), write=disk)
    w.append(ev(1))
    seal(w)
    disk.full = True
    dead = ev(2, "DEAD_LETTER", payload={"service": "executor", "handler": "h", "error": "x",
                                         "attempt": 1, "event": {}})
    assert w.append(dead) is True  # deferred, not raised into the bus handler
    w.append(ev(3))
    assert w.sync() is False and w.watermarks() == {"scanner": {"e1": 1}}
    disk.full = False
    w.tick()
    seal(w)
    assert w.watermarks() == {"scanner": {"e1": 3}}
    w.close()
    assert [r["seq"] for r in lines(st.events / "dlq.jsonl")] == [2]
    assert verify(st).ok


class GatedFsync:
    """An fsync that blocks (in the worker thread) until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.fail = False

    def __call__(self, fd: int) -> None:
        self.entered.set()
        self.gate.wait(10)
        if self.fail:
            raise OSError(errno.EIO, "I/O error")
        os.fsync(fd)


async def test_off_loop_sync_covers_what_was_written_before_it_began():
    """Appends during an fsync in the worker thread go on; the watermark and the checkpoint
    cover only what the fsync made durable, the rest comes with the next group commit."""
    st = make_state()
    fsync = GatedFsync()
    w = AuditWriter(st, AuditConfig(checkpoint_every_records=1), ManualClock(), fsync=fsync)
    w.background_sync = True
    for i in (1, 2):
        w.append(ev(i))
    task = asyncio.create_task(w.sync_off_loop())
    await async_wait_for(fsync.entered.is_set, interval=0.001, message="the fsync begun")
    w.append(ev(3))  # the loop is free while the thread fsyncs
    assert w.watermarks() == {}
    fsync.gate.set()
    assert await task is True
    assert w.watermarks() == {}  # sealed by a checkpoint that is not durable yet
    assert cp_sizes(st.events / "checkpoints.jsonl") == [2]
    assert await w.sync_off_loop() is True
    assert w.watermarks() == {"scanner": {"e1": 2}}
    assert cp_sizes(st.events / "checkpoints.jsonl") == [2, 3]
    assert await w.sync_off_loop() is True
    assert w.watermarks() == {"scanner": {"e1": 3}}
    w.close()
    assert verify(st).ok


async def test_off_loop_fsync_failure_keeps_the_watermark_and_retries():
    """An fsync error in the thread is reported like a write error; the next commit fsyncs the
    same files again and only then moves the watermark."""
    st = make_state()
    fsync = GatedFsync()
    fsync.gate.set()
    w = AuditWriter(st, AuditConfig(), ManualClock(), fsync=fsync)
    w.background_sync = True
    w.append(ev(1))
    fsync.fail = True
    assert await w.sync_off_loop() is False
    assert w.disk_full and w.watermarks() == {} and w.stats["write_errors"] == 1
    fsync.fail = False
    assert await w.sync_off_loop() is True
    assert not w.disk_full and w.watermarks() == {}
    w.checkpoint()
    assert await w.sync_off_loop() is True
    assert w.watermarks() == {"scanner": {"e1": 1}}
    w.close()
    assert verify(st).ok


def test_old_sequenced_resend_after_the_id_window_is_dropped_across_a_restart():
    """A resend of seq 1 long after the id window forgot it is still dropped, once, after a
    restart too, and a hole filled later is accepted (nothing lost)."""
    st = make_state()
    sent = {i: ev(i, corr=f"c{i}") for i in range(1, 7)}
    with writer(st, dedupe_window=2) as w:
        for i in (1, 2, 4, 5, 6):
            assert w.append(sent[i]) is True
        assert sent[1].event_id not in w.ids
        assert w.append(sent[1]) is False
        seal(w)
        assert w.holes() == [("scanner", "e1", 3, 3)]
    with writer(st, dedupe_window=2) as w:
        assert sent[1].event_id not in w.ids and sent[6].event_id in w.ids
        assert w.append(sent[1]) is False and w.append(sent[2]) is False
        assert w.stats["duplicates"] == 2
        assert w.append(sent[3]) is True  # the hole, replayed late
        assert w.append(sent[3]) is False
        seal(w)
        assert w.watermarks()["scanner"] == {"e1": 6}
    assert sorted(r["seq"] for r in lines(st.events / "prices.jsonl")) == [1, 2, 3, 4, 5, 6]
    assert not (st.events / "system.jsonl").exists()  # no DUPLICATE: the seqs were held


def test_unsequenced_events_are_deduplicated_by_the_id_window():
    """An event without delivery fields is dropped while its id is in the window."""
    st = make_state()
    legacy = new_event("CONTROL", {"service": "scanner", "command": "pause"}, source="operator")
    with writer(st, dedupe_window=4) as w:
        assert w.append(legacy) is True
        assert w.append(legacy) is False
    with writer(st, dedupe_window=4) as w:
        assert w.append(legacy) is False


def test_merkle_nodes_live_in_files_rebuilt_from_the_log_at_start():
    """The tree's nodes are written beside the log; removed or corrupted, start-up rebuilds
    them from the records and the root still matches the signed checkpoint."""
    st = make_state()
    with writer(st) as w:
        for i in range(1, 40):
            w.append(ev(i))
        seal(w)
        root = w.tree.root()
    level0 = st.events / "merkle" / "level-00.bin"
    assert level0.stat().st_size == 39 * 32
    level0.write_bytes(b"\xff" * 64)  # a stale or damaged cache is never trusted
    with writer(st) as w:
        assert w.tree.size == 39 and w.tree.root() == root
        w.append(ev(40))
        seal(w)
    assert level0.stat().st_size == 40 * 32
    assert verify(st).ok


def test_writer_heap_does_not_grow_with_the_log():
    """Past its id window, 20,000 more records add under 20 bytes each to the writer's heap."""
    import tracemalloc

    st = make_state()
    with writer(st, dedupe_window=1000) as w:
        def fill(lo: int, hi: int) -> None:
            for i in range(lo, hi):
                w.append(ev(i, corr="c"))
                if i % 500 == 0:
                    seal(w)
            seal(w)

        fill(1, 5001)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        fill(5001, 25001)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert w.tree.size == 25000 and len(w.ids) == 1000
    assert grown < 20000 * 20, grown  # an id set and in-memory tree: ~260 bytes a record


def test_an_event_declared_lost_that_turns_up_later_is_written_once():
    """A seq a GAP settled is not taken for a resend: the event is written, its resend is not."""
    st = make_state()
    late = ev(2, corr="late")
    with writer(st) as w:
        w.append(ev(1))
        w.append(ev(3))
        w.record_gap("scanner", "e1", 2, 2)
        assert w.append(late) is True
        assert w.append(late) is False
    with writer(st) as w:
        assert w.append(late) is False
    assert sorted(r["seq"] for r in lines(st.events / "prices.jsonl")) == [1, 2, 3]


def test_a_log_of_dict_path_records_continues_byte_for_byte(monkeypatch):
    """Events sealed as dicts (how earlier writers sealed every event) and from the envelope
    give the same lines, and a log mixing them verifies across restarts."""
    from hope.audit import log as audit_log
    from hope.audit.canonical import seal_leaf

    def dict_path(fam, env, principal, leaf):
        digest, line, leaf_hash = seal_leaf(dict(env.to_dict(), principal=principal,
                                                 prev_hash=fam.head, leaf=leaf))
        fam.add(digest, line)
        return leaf_hash

    events = [ev(s, corr=f"{s:032x}", payload={"symbol": "EVXBTC", "price": 5e-05 * s,
                                               "market_ts": 1.7e9 + s / 7}) for s in range(1, 7)]
    old, new = make_state(), make_state()
    with monkeypatch.context() as m:
        m.setattr(audit_log.Family, "add_event", dict_path)
        with writer(old) as w:
            for e in events[:3]:
                w.append(e)
    with writer(old) as w:
        for e in events[3:]:
            w.append(e)
    assert verify(old).ok
    with writer(new) as w:
        for e in events:
            w.append(e)
    assert (old.events / "prices.jsonl").read_bytes() == (new.events / "prices.jsonl").read_bytes()
