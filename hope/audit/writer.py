"""AuditWriter: every event persisted exactly once into its hash-chained, signed file family.

A plain class, no sockets: ``append(env)`` buffers a chained record (and its Merkle leaf),
``sync()`` writes and fsyncs (group commit: ``hope.audit.group_commit``) and signs a checkpoint
when due; ``tick()`` is the timer (group commit, checkpoint deadline, heartbeat summaries,
disk-full retry).

Watermark: per (publisher, epoch) the highest ``seq`` with 1..seq covered by a durable signed
checkpoint (or a GAP); start-up builds only on what the last checkpoint covers
(``hope.audit.startup``, ``hope.audit.tail``). Disk full (any OSError writing or fsyncing):
nothing buffered is dropped, the watermark stops, every ``tick`` retries; past
``max_pending_bytes`` new events are refused with :class:`AuditUnavailable` (not acknowledged,
so they are delivered again later).
"""
from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import structlog

from hope.audit.archive import SegmentArchiver
from hope.audit.canonical import DEFAULT_FAMILY, FAMILIES, GENESIS, family_for, seal_leaf
from hope.audit.checkpoints import CheckpointLog, SignedCheckpoint, make_checkpoint
from hope.audit.config import AuditConfig
from hope.audit.group_commit import GroupCommit
from hope.audit.heartbeats import HeartbeatSummary
from hope.audit.keys import Signer, init_keys
from hope.audit.log import Family, FsyncFn, WriteFn
from hope.audit.recent_ids import NewestIds, RecentIds
from hope.audit.seqbook import SeqBook, nested
from hope.audit.startup import default_origin
from hope.audit.tail import resume
from hope.clock import WallClock
from hope.envelope import EPHEMERAL_TYPES, Envelope, new_event, utc_timestamp
from hope.paths import StatePaths

# What a checkpoint acknowledges once durable: seq lows, family sizes, the checkpoint itself.
Marks = tuple[dict[tuple[str, str], int], dict[str, int], SignedCheckpoint]


STATS = ("records", "duplicates", "gaps", "refused", "write_errors", "checkpoints", "heartbeats",
         "tail_quarantined", "tail_confirmed", "tail_mismatch", "tail_unconfirmed")


class AuditUnavailable(RuntimeError):
    """The writer cannot take more events now (disk full and the in-memory buffer is at its bound)."""


class AuditWriter(GroupCommit):
    """See the module docstring. ``write``/``fsync`` are injectable for disk-full tests."""

    def __init__(self, state: StatePaths, cfg: AuditConfig | None = None,
                 clock: WallClock | None = None, *, write: WriteFn = os.write,
                 fsync: FsyncFn = os.fsync, log: Any = None, signer: Signer | None = None,
                 source: str = "audit-writer", pinned: list[str] | None = None) -> None:
        self.state = state.ensure()
        self.cfg = cfg or AuditConfig()
        self.clock = clock or WallClock()
        self.log = log or structlog.get_logger("hope.audit")
        self.source = source
        # True when every event handed to append() passed the bus's event gate, so its
        # publisher is its proven signer: records then name it as ``principal`` (else null).
        self.principals_verified = False
        self._write, self._fsync = write, fsync
        if signer is None:
            signer, created = init_keys(state.keys)
            if created:
                self.log.warning("audit: no signing key found; created one (pin its id in "
                                 "[audit] trusted_keys)", key_id=signer.key_id)
        self.signer = signer
        self.families: dict[str, Family] = {}
        self.ids = RecentIds(self.cfg.dedupe_window)
        self._newest = NewestIds(self.cfg.dedupe_window)
        self.seqs = SeqBook()
        self.stats: dict[str, int] = dict.fromkeys(STATS, 0)
        self.checkpoints = CheckpointLog(state.events, state.checkpoint_copy, state.quarantine,
                                         self.log, write, fsync)
        # Only what the last signed checkpoint covers is built on (raises AuditStartError).
        self.manifest, plan, self.tail = resume(state, self.checkpoints,
                                                list(pinned or self.cfg.trusted_keys),
                                                self._rebuild, self.log)
        self._newest.into(self.ids)
        self.checkpoints.latest = plan.latest
        self.checkpoints.forget_lines()
        self.tree = plan.tree
        self.origin = (plan.latest.checkpoint.origin if plan.latest
                       else self.cfg.origin or default_origin(signer.key_id))
        self.stats["tail_quarantined"] = len(self.tail.pending)
        for name, (count, head) in plan.counts.items():
            self._family(name).open(count, head)
        self._durable: dict[tuple[str, str], int] = self.seqs.lows()
        self._durable_sealed: dict[str, int] = dict(self.checkpoints.sealed)
        self._marks_pending: Marks | None = None
        self.durable_checkpoint = plan.latest  # the newest checkpoint known to be fsynced
        self.disk_full = False
        self._deferred: list[dict[str, Any]] = []
        now = self.clock.monotonic()
        self._last_sync = now
        self._unsynced = 0
        self._first_unsealed: float | None = None
        self.heartbeats = HeartbeatSummary(now)
        self._closed = False
        # True (the service): group commits only from tick_off_loop, fsync in a worker thread;
        # False (tests, tools): append syncs inline when a commit is due.
        self.background_sync = False
        self._started = now
        self.archiver = SegmentArchiver(state.events, self.manifest, self.cfg.archive_after_s,
                                        self.clock.time, self.log)
        self._note_start(plan)

    def _family(self, name: str) -> Family:
        fam = self.families.get(name)
        if fam is None:
            fam = Family(self.state.events, name, self.manifest, self._write, self._fsync)
            if name not in self.manifest.families or not self.manifest.families[name]:
                fam.open(0, GENESIS)  # a new family (OSError: the caller defers the record)
            self.families[name] = fam  # else opened by __init__ at its verified size
        return fam

    def _note_start(self, plan: Any) -> None:
        """Say in the log itself what start-up set aside and which key now signs."""
        if self.tail.pending:
            self.own_event("AUDIT_QUARANTINE", self.tail.summary(plan.latest))
        if plan.latest and plan.latest.key_id != self.signer.key_id:
            self.own_event("AUDIT_KEY_ROTATED", {"from": plan.latest.key_id,
                                                  "to": self.signer.key_id})

    def _rebuild(self, rec: dict[str, Any]) -> None:
        """Re-learn dedupe ids and sequence state from a record found on disk."""
        self._newest.offer(rec["leaf"], rec["event_id"])  # (start-up checked both types)
        self.seqs.learn(rec)

    # --- appending -------------------------------------------------------------------------

    def append(self, env: Envelope) -> bool:
        """Buffer one event; False when it is not written (ephemeral, or a duplicate: its
        (publisher, epoch, seq) already held, at any age, or its ``event_id`` among the last
        ``[audit] dedupe_window`` records).

        Heartbeats are counted into the periodic HEARTBEAT_SUMMARY instead of being written.
        Raises AuditUnavailable when the disk is full and the buffer is at its bound.
        """
        etype = env.event_type
        if etype in EPHEMERAL_TYPES:
            if etype == "HEARTBEAT":
                self.heartbeats.count(env)
                self.stats["heartbeats"] += 1
            return False
        if self.tail.pending:
            self.tail.confirm(env, self.stats, self.log)
        pub, epoch, seq = env.publisher, env.epoch, env.seq
        sequenced = pub and epoch and seq > 0
        stream = self.seqs.streams.get((pub, epoch)) if sequenced else None
        # (held() is the rule; the inline test only spares its call for a seq not seen yet)
        if (stream is not None and stream.seen(seq) and self.seqs.held(env)) \
                or env.event_id in self.ids:
            self.stats["duplicates"] += 1
            if (resent := self.seqs.resent(env)) is not None:  # its seq must not become a hole
                self.own_event("DUPLICATE", resent)
            return False
        if self.disk_full and self._pending_bytes() >= self.cfg.max_pending_bytes:
            self.stats["refused"] += 1
            raise AuditUnavailable("audit log disk full: buffer at max_pending_bytes")
        principal = env.publisher if self.principals_verified else None
        fam = None if self._deferred else self.families.get(FAMILIES.get(etype, DEFAULT_FAMILY))
        if fam is None:  # a new family, or records waiting for theirs: the slow path
            rec = env.to_dict()
            rec["principal"] = principal
            self._add(rec)
        else:  # the hot path: no dict built, the line written in place
            self.tree.append(fam.add_event(env, principal, self.tree.size))
            self._sealed(env.event_id)
        if sequenced:
            (stream if stream is not None else self.seqs.track(pub, epoch)).add(seq)
        if not self.background_sync and (self._unsynced >= self.cfg.fsync_max_records
                                         or self._sync_due()):
            self.sync()
        return True

    def _add(self, rec: dict[str, Any]) -> None:
        if self._deferred:  # nothing overtakes a record still waiting for its file
            self._defer(rec, None)
            return
        try:
            fam = self._family(family_for(rec["event_type"]))
        except OSError as exc:  # a new family's file or manifest could not be created
            self._defer(rec, exc)
            return
        self._seal_into(fam, rec)

    def _defer(self, rec: dict[str, Any], exc: OSError | None) -> None:
        """Keep a record whose family file cannot be opened (disk full) in memory, in order;
        sync() retries. The watermark cannot pass it: sync() fails while any is deferred."""
        self._deferred.append(rec)
        self.ids.add(rec["event_id"])
        if exc is not None:
            self.stats["write_errors"] += 1
            if not self.disk_full:
                self.log.critical("audit: cannot open a log file, watermark stopped; keeping "
                                  "records in memory and retrying", error=str(exc))
            self.disk_full = True

    def _retry_deferred(self) -> bool:
        while self._deferred:
            rec = self._deferred[0]
            try:
                fam = self._family(family_for(rec["event_type"]))
            except OSError:
                return False
            self._deferred.pop(0)
            self._seal_into(fam, rec)
        return True

    def _seal_into(self, fam: Family, rec: dict[str, Any]) -> None:
        rec["prev_hash"] = fam.head
        rec["leaf"] = self.tree.size
        digest, line, leaf = seal_leaf(rec)
        self.tree.append(leaf)
        fam.add(digest, line)
        self._sealed(rec["event_id"])

    def _sealed(self, event_id: str) -> None:
        """Book a record chained into its family, its leaf in the tree."""
        self.ids.add(event_id)
        self.stats["records"] += 1
        self._unsynced += 1
        if self._first_unsealed is None:
            self._first_unsealed = self.clock.monotonic()

    def own_event(self, event_type: str, payload: dict[str, Any]) -> None:
        """Write a record of the writer's own (GAP, DUPLICATE, AUDIT_*, HEARTBEAT_SUMMARY)."""
        ts = utc_timestamp(datetime.fromtimestamp(self.clock.time(), UTC))
        env = new_event(event_type, payload, source=self.source, timestamp=ts)
        if env.event_id not in self.ids:  # the same GAP declared twice in one microsecond
            rec = env.to_dict()
            rec["principal"] = self.source  # written by the writer itself
            self._add(rec)

    def record_gap(self, publisher: str, epoch: str, first: int, last: int) -> None:
        """Declare seq first..last of (publisher, epoch) unrecoverable (a replay could not
        deliver it): a GAP record; the watermark moves past it, ``hope audit verify`` lists it."""
        if not (isinstance(first, int) and isinstance(last, int) and 1 <= first <= last):
            raise ValueError(f"record_gap: bad range {first}..{last}")
        self.own_event("GAP", {"publisher": publisher, "epoch": epoch, "from": first, "to": last})
        self.seqs.gap(publisher, epoch, first, last)
        self.stats["gaps"] += 1
        self.log.warning("audit: unrecoverable gap recorded", publisher=publisher, epoch=epoch,
                         first=first, last=last)

    def _summarise_heartbeats(self) -> None:
        for payload in self.heartbeats.drain(self.clock.monotonic()):
            self.own_event("HEARTBEAT_SUMMARY", payload)

    # --- durability ------------------------------------------------------------------------

    def _unsealed(self) -> bool:
        return self.tree.size > self.checkpoints.size

    def _checkpoint_due(self, now: float) -> bool:
        if self._first_unsealed is None:
            return False
        return (self.tree.size - self.checkpoints.size >= self.cfg.checkpoint_every_records
                or now - self._first_unsealed >= self.cfg.checkpoint_interval_ms / 1000 - 1e-6)

    def checkpoint(self, sealable: tuple[int, dict[str, tuple[int, str]]] | None = None,
                   seqs: dict[tuple[str, str], int] | None = None) -> int:
        """Sign a checkpoint up to ``sealable`` ((size, {family: (count, head)}) the last fsync
        made durable; ``seqs``: the watermark it seals; default: everything). The next group
        commit fsyncs it, and only then does the WATERMARK move."""
        if sealable is None:
            sealable, seqs = self._sealable(), self.seqs.lows()
        size, families = sealable
        if size <= self.checkpoints.size:
            return 0
        ts = utc_timestamp(datetime.fromtimestamp(self.clock.time(), UTC))
        if self.checkpoints.latest:  # a wall clock stepped back must not reorder checkpoints
            ts = max(ts, self.checkpoints.latest.checkpoint.time or "")
        signed = make_checkpoint(self.signer, self.origin, self.tree, size, families, ts,
                                 self.checkpoints.size)
        self.checkpoints.add(signed)
        self._marks_pending = (dict(seqs or {}), {n: c for n, (c, _) in families.items()}, signed)
        self._first_unsealed = self.clock.monotonic() if self._unsealed() else None
        self.stats["checkpoints"] += 1
        try:
            self.checkpoints.flush()
        except OSError:
            self.disk_full = True  # retried with the next sync
        return 1

    def tick(self) -> None:
        """The timer: heartbeat summaries, group-commit and checkpoint deadlines, disk-full retry."""
        if self._tick_wants_sync():
            self.sync()

    async def tick_off_loop(self) -> None:
        """:meth:`tick` with the fsync in a worker thread (the service's timer)."""
        if self._tick_wants_sync():
            await self.sync_off_loop()

    def _tick_wants_sync(self) -> bool:
        now = self.clock.monotonic()
        if self.heartbeats.due(now, self.cfg.heartbeat_summary_s):
            self._summarise_heartbeats()
        if self.tail.pending and now - self._started >= self.cfg.tail_confirm_s:
            self.own_event("AUDIT_TAIL_UNCONFIRMED", self.tail.give_up(self.stats, self.log))
        if (self._unsynced or self.disk_full or self._pending_bytes()
                or self._marks_pending is not None):  # a checkpoint waiting for its fsync
            return self._sync_due() or self.disk_full
        if self._checkpoint_due(now):
            self.checkpoint()
            return True
        return False

    def watermarks(self) -> dict[str, dict[str, int]]:
        """{publisher: {epoch: highest seq with 1..seq sealed by a durable checkpoint}}."""
        return nested(self._durable)

    def holes(self) -> list[tuple[str, str, int, int]]:
        """Missing seq ranges below the highest seen, per (publisher, epoch): replay candidates."""
        return self.seqs.holes()

    def sealed_size(self) -> int:
        """Records (Merkle leaves) a durable signed checkpoint covers: archivable."""
        return self.durable_checkpoint.checkpoint.size if self.durable_checkpoint else 0

    def snapshot(self) -> dict[str, Any]:
        """Counters for heartbeats and metrics."""
        return {**self.stats, "disk_full": self.disk_full, "pending_bytes": self._pending_bytes(),
                "tree_size": self.tree.size, "sealed_size": self.checkpoints.size,
                "archived": self.archiver.archived, "archive_errors": self.archiver.errors}

    def close(self) -> None:
        """Summarise heartbeats, fsync and seal everything, close the files (idempotent)."""
        if self._closed:
            return
        if self.heartbeats.pending:
            self._summarise_heartbeats()
        if self.sync() and self._unsealed():
            self.checkpoint()
            self.sync()
        if self.disk_full:
            self.log.critical("audit: closing with unwritten records (disk full)",
                              pending_bytes=self._pending_bytes())
        for fam in self.families.values():
            fam.close()
        self.checkpoints.close()
        self.tree.close()
        self._closed = True

    def __enter__(self) -> AuditWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

