"""A publisher's outbox: every sequenced event is written here before it is sent.

One directory per service (``<state>/outbox/<service>/``), one file family per epoch, in segments of
``segment_events`` seqs. A plain ``os.write`` per event (no fsync): it survives SIGKILL of the
process, not a power cut, which is the promise. Records stay in memory until the audit writer's
watermark covers them, so replay requests are answered without disk reads; then segments are
deleted once they are also older than ``retention_s``, so that a consumer restarted within that window
still recovers what it missed. On start the outbox loads earlier epochs' unacknowledged records so they are resent.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog

from hope import codec
from hope.codec import decode_obj, encode_obj
from hope.envelope import EnvelopeError, EventType
from hope.tails import frame, keep_tail, read_frames

if TYPE_CHECKING:
    from hope.bus.base import DeliveryJournal

log = structlog.get_logger("hope.outbox")
MAX_REPLAY_SPAN = 100_000


class Record(msgspec.Struct, gc=False):
    """One outboxed event. Untracked by the collector (only atomic fields, no cycles
    possible): a publisher keeps every event until the watermark and the retention window pass,
    and tracked records would fill the young generation and set off a collection (a pause of
    several ms on a busy publisher) every ``threshold0`` events."""

    seq: int
    tseq: int
    event_type: str
    topic: bytes
    body: bytes
    at: float = 0.0  # monotonic time of writing (or loading), for the retention window


@dataclass
class EpochLog:
    """The untrimmed records of one epoch, indexed by seq and by (type, tseq)."""

    epoch: str
    by_seq: dict[int, Record] = field(default_factory=dict)
    by_type: dict[str, dict[int, int]] = field(default_factory=dict)
    high_seq: int = 0
    high_tseq: dict[str, int] = field(default_factory=dict)
    acked_seq: int = 0      # the audit writer's durable watermark
    marked_seq: int = 0     # the watermark the epoch's ``.acked`` marker file holds
    trimmed_seq: int = 0    # records at or below this are gone from memory
    trimmed_tseq: dict[str, int] = field(default_factory=dict)

    def add(self, rec: Record) -> None:
        self.by_seq[rec.seq] = rec
        self.by_type.setdefault(rec.event_type, {})[rec.tseq] = rec.seq
        self.high_seq = max(self.high_seq, rec.seq)
        self.high_tseq[rec.event_type] = max(self.high_tseq.get(rec.event_type, 0), rec.tseq)

    def unacked(self) -> list[Record]:
        return [self.by_seq[s] for s in sorted(self.by_seq) if s > self.acked_seq]

    def find(self, by: str, event_type: str, first: int, last: int,
             prefixes: list[bytes]) -> tuple[list[Record], list[tuple[int, int]]]:
        """Records in the closed range (by "seq" or "tseq" of ``event_type``) matching a prefix,
        and the sub-ranges this outbox cannot vouch for (trimmed, or never published)."""
        if by == "seq":
            index = {s: s for s in self.by_seq}
            floor, high = self.trimmed_seq, self.high_seq
        else:
            index = self.by_type.get(event_type, {})
            floor, high = self.trimmed_tseq.get(event_type, 0), self.high_tseq.get(event_type, 0)
        found: list[Record] = []
        missing: list[tuple[int, int]] = []
        if last - first > MAX_REPLAY_SPAN:
            missing.append((first + MAX_REPLAY_SPAN + 1, last))
            last = first + MAX_REPLAY_SPAN
        for n in range(first, last + 1):
            seq = index.get(n)
            if seq is not None:
                rec = self.by_seq[seq]
                if not prefixes or any(rec.topic.startswith(p) for p in prefixes):
                    found.append(rec)
            elif n <= floor or n > high:
                if missing and missing[-1][1] == n - 1:
                    missing[-1] = (missing[-1][0], n)
                else:
                    missing.append((n, n))
        return found, missing


class Outbox:
    def __init__(self, directory: Path, epoch: str, segment_events: int = 5000,
                 retention_s: float = 60.0, quarantine_dir: Path | None = None) -> None:
        self.dir = directory
        self.retention_s = retention_s
        self.epoch = epoch
        self.segment_events = segment_events
        self.epochs: dict[str, EpochLog] = {}
        self._fd: int | None = None
        self._segment = -1
        self.quarantine_dir = quarantine_dir  # evidence of torn records (None: logged only)

    # lifecycle --------------------------------------------------------------------------
    def open(self) -> list[Record]:
        """Load earlier epochs from disk; return their unacknowledged records, oldest first."""
        self.dir.mkdir(parents=True, exist_ok=True)
        resend: list[Record] = []
        for epoch in sorted({p.name.split(".")[0] for p in self.dir.glob("*.out")}):
            if epoch == self.epoch:
                continue
            elog = self._load_epoch(epoch)
            if elog.by_seq:
                self.epochs[epoch] = elog
                resend.extend(elog.unacked())
            else:
                self._delete_epoch(epoch)
        self.epochs[self.epoch] = EpochLog(self.epoch)
        return resend

    def close(self) -> None:
        try:
            self.write_markers()
        except OSError as exc:  # disk full: a stale marker only means more is resent
            log.warning("outbox_marker_write_failed", path=str(self.dir), error=str(exc))
        self._close_segment()

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # writing ----------------------------------------------------------------------------
    def append(self, rec: Record) -> None:
        segment = (rec.seq - 1) // self.segment_events
        if segment != self._segment:
            self._close_segment()
            path = self.dir / f"{self.epoch}.{segment:06d}.out"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._segment = segment
        os.write(self._fd, frame(encode_obj([rec.seq, rec.tseq, rec.event_type, rec.topic,
                                             rec.body])))
        self.epochs[self.epoch].add(rec)

    # acknowledgement --------------------------------------------------------------------
    def ack(self, epoch: str, seq: int) -> None:
        """The audit writer has durably stored ``epoch`` up to ``seq`` (trimmed later by trim(),
        the marker file written by the next trim() or close())."""
        elog = self.epochs.get(epoch)
        if elog is None or seq <= elog.acked_seq:
            return
        elog.acked_seq = min(seq, elog.high_seq)

    def write_markers(self) -> None:
        """Write each epoch's ``.acked`` marker that is behind its watermark. Not on every
        WATERMARK (five a second: a file create and rename each, on the event loop): a marker
        is only read after a restart, and one behind means records the audit writer already
        holds are resent, which every consumer drops as duplicates (its cursor of their
        publisher, epoch and seq)."""
        for elog in self.epochs.values():
            if elog.acked_seq != elog.marked_seq:
                self._write_marker(elog)
                elog.marked_seq = elog.acked_seq

    def trim(self, now: float) -> None:
        """Drop acknowledged records older than the retention window; delete spent segments;
        bring the markers up to date first."""
        try:
            self.write_markers()
        except OSError as exc:  # disk full: trimming is what frees it; a stale marker resends
            log.warning("outbox_marker_write_failed", path=str(self.dir), error=str(exc))
        for epoch, elog in list(self.epochs.items()):
            cut = elog.trimmed_seq
            # by_seq is in seq order (appended, or loaded, in order): stop at the first keeper.
            spent = []
            for s, rec in elog.by_seq.items():
                if s > elog.acked_seq or rec.at > now - self.retention_s:
                    break
                spent.append(s)
            for s in spent:
                rec = elog.by_seq.pop(s)
                elog.by_type.get(rec.event_type, {}).pop(rec.tseq, None)
                elog.trimmed_tseq[rec.event_type] = max(
                    elog.trimmed_tseq.get(rec.event_type, 0), rec.tseq)
                cut = s
            if cut == elog.trimmed_seq:
                continue
            elog.trimmed_seq = cut
            if epoch != self.epoch and cut >= elog.high_seq:
                self._delete_epoch(epoch)
                del self.epochs[epoch]
                continue
            done = cut // self.segment_events  # segments below this index are fully trimmed
            for path in self.dir.glob(f"{epoch}.*.out"):
                idx = int(path.name.split(".")[1])
                if idx < done and not (epoch == self.epoch and idx == self._segment):
                    path.unlink(missing_ok=True)

    def pending(self) -> int:
        return sum(len(e.by_seq) for e in self.epochs.values())

    # internals --------------------------------------------------------------------------
    def _write_marker(self, elog: EpochLog) -> None:
        tmp = self.dir / f"{elog.epoch}.acked.tmp"
        tmp.write_bytes(encode_obj({"seq": elog.acked_seq}))
        os.replace(tmp, self.dir / f"{elog.epoch}.acked")

    def _load_epoch(self, epoch: str) -> EpochLog:
        elog = EpochLog(epoch)
        marker = self.dir / f"{epoch}.acked"
        if marker.exists():
            try:
                data = decode_obj(marker.read_bytes())
                elog.acked_seq = elog.marked_seq = int(data["seq"])
            except Exception as exc:  # a bad marker only means we resend more
                log.warning("outbox_marker_unreadable", path=str(marker), error=str(exc))
        for path in sorted(self.dir.glob(f"{epoch}.*.out")):
            data = path.read_bytes()
            frames, end = read_frames(data)
            for pos, chunk in frames:
                try:
                    seq, tseq, etype, topic, body = decode_obj(chunk)
                    rec = Record(seq, tseq, etype, topic, body, time.monotonic())
                except Exception as exc:
                    log.error("outbox_bad_record", path=f"{path}:{pos}", error=str(exc))
                    end = pos
                    break
                elog.add(rec)
            # an earlier epoch's file is never appended to again: keep the evidence, cut nothing
            keep_tail(path, data, end, self.quarantine_dir, "outbox", "outbox: torn record", log,
                      truncate=False)
        return elog

    def _delete_epoch(self, epoch: str) -> None:
        for path in self.dir.glob(f"{epoch}.*"):
            path.unlink(missing_ok=True)


def restore_causations(outbox: Outbox, journal: DeliveryJournal) -> None:
    """An event we published with causation X means a handler of ours finished X before a
    crash that may have beaten the journal write: never run it again (dead letters aside)."""
    for epoch in outbox.epochs.values():
        for rec in epoch.by_seq.values():
            if rec.event_type == EventType.DEAD_LETTER:
                continue
            try:
                env = codec.decode(rec.body, verify=False)
            except EnvelopeError:
                continue
            if env.causation_id and not journal.is_done("*", env.causation_id):
                journal.mark_done(env.causation_id, ["*"])
