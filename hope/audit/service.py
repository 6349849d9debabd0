"""The audit-writer service: subscribe to everything, persist, publish the durable watermark.

- every event → :meth:`AuditWriter.append` (duplicates dropped; heartbeats summarised);
- every ``fsync_interval_ms`` → :meth:`AuditWriter.tick_off_loop` (group commit, checkpoints);
- ``watermark_hz`` times a second → ephemeral ``WATERMARK`` with payload
  ``{"watermarks": {publisher: {epoch: seq}}, "durable": bool}``: only seqs covered by a durable
  signed checkpoint (``durable`` is False while writes fail, e.g. disk full: the numbers then
  stop moving);
- start-up verifies the log up to its last checkpoint; one it cannot trust exits ``EX_AUDIT``
  (65) naming ``file:line`` (:func:`open_writer`);
- the log is the delivery journal (:class:`AuditLogJournal`, supplied through
  ``Service.journal()``): cursors start from what the last checkpoint covers, and a range no
  outbox can replay becomes a GAP record;
- ``[audit] witnesses`` get the latest durable checkpoint every ``witness_interval_s``
  (:class:`~hope.audit.witness_push.WitnessPusher`); ALERTs when a push fails, or when the
  quarantined unsealed tail of a restart does not come back as it was (:meth:`check_tail`);
- on stop (SIGTERM): heartbeat summaries, fsync, final checkpoint, one last WATERMARK.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from hope.audit.archive import DiskBudget, disk_usage
from hope.audit.keys import AuditKeyError
from hope.audit.pins import read_pins
from hope.audit.startup import EX_AUDIT, AuditStartError
from hope.audit.witness_push import WitnessPusher
from hope.audit.writer import AuditWriter
from hope.bus.base import JournalFactory
from hope.bus.cursor import Cursors
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, every, subscribe


class AuditLogJournal:
    """The audit log as the bus's delivery journal. The generic consumer journal would mark an
    event consumed when the handler returns, while its record may still sit in the writer's
    group-commit buffer or after its last checkpoint; after a SIGKILL the writer must ask again
    for exactly what it lost or set aside. So the cursors are seeded from what the last
    checkpoint covers, dedupe is the writer's own (by ``event_id``), nothing else is recorded."""

    def __init__(self, writer: AuditWriter, cursors: Cursors) -> None:
        self.writer = writer
        self.cursors = cursors

    def open(self) -> None:
        for (publisher, epoch), track in self.writer.seqs.items():
            key = self.cursors.key(publisher, epoch, "")
            self.cursors.seed(key, track.low)
            for seq in track.above:
                self.cursors.get(key).add(seq)

    def close(self) -> None:
        return None

    def is_done(self, handler: str, event_id: str) -> bool:
        return False

    def mark_done(self, event_id: str, handlers: list[str]) -> None:
        return None

    def consumed(self, publisher: str, epoch: str, event_type: str, n: int, event_id: str,
                 handlers: list[str]) -> None:
        return None

    def settled(self, publisher: str, epoch: str, event_type: str, n: int) -> None:
        return None

    def flush(self) -> None:
        return None

    def covered(self, publisher: str, epoch: str, kind: str, first: int, last: int) -> None:
        return None

    def missing(self, publisher: str, epoch: str, first: int, last: int) -> None:
        self.writer.record_gap(publisher, epoch, first, last)


class AuditWriterService(Service):
    name = "audit-writer"

    def __init__(self, runtime: Runtime, *, writer: AuditWriter) -> None:
        super().__init__(runtime)
        self.writer = writer
        self.cfg = runtime.config.audit
        writer.background_sync = True  # fsync in a worker thread; the loop keeps taking events
        runtime.bus.space_reads(self.cfg.read_gap_ms / 1000)
        self.pusher = WitnessPusher(writer, self.cfg.witnesses, self.log, self._alert)
        self._tail_alerted = {"tail_mismatch": 0, "tail_unconfirmed": 0}
        self.disk = DiskBudget(self.cfg.disk_budget_bytes, self.cfg.disk_alert_ratio)

    @classmethod
    def create(cls, runtime: Runtime, *, writer: AuditWriter | None = None
               ) -> AuditWriterService:
        return cls(runtime, writer=writer or open_writer(runtime))

    def journal(self) -> JournalFactory:
        return lambda cursors: AuditLogJournal(self.writer, cursors)

    @subscribe("", name="audit", verify_id=True)
    def on_event(self, env: Envelope) -> None:
        if self.writer.append(env):
            self.metrics["audit_records"] += 1
        else:
            self.metrics["audit_skipped"] += 1

    @every(lambda self: self.cfg.fsync_interval_ms / 1000)
    async def group_commit(self) -> None:
        await self.writer.tick_off_loop()

    @every(lambda self: 1 / self.cfg.watermark_hz)
    async def publish_watermark(self) -> None:
        await self.publish("WATERMARK", watermark_payload(self.writer))

    @every(lambda self: self.cfg.witness_interval_s if self.cfg.witnesses else 0)
    async def push_to_witnesses(self) -> None:
        await self.pusher.push()

    @every(lambda self: 1.0 if self.writer.tail.pending else 0)
    async def check_tail(self) -> None:
        """ALERT when a re-sent event differs from its quarantined copy, or tail records never
        come back (the unsealed tail a restart set aside)."""
        for kind, before in self._tail_alerted.items():
            now = self.writer.stats[kind]
            if now > before:
                self._tail_alerted[kind] = now
                await self._alert({"kind": f"audit_{kind}", "count": now,
                                   "evidence": "quarantine/audit-tail-*.bin"})

    @every(lambda self: 60.0 if self.cfg.archive_after_s > 0 else 0)
    async def archive_segments(self) -> None:
        """gzip one sealed, rotated segment (hope.audit.archive), off the event loop."""
        await self.writer.archiver.step_off_loop(self.writer.sealed_size())

    @every(lambda self: 10.0)
    async def check_disk(self) -> None:
        """Measure events/ and ALERT once per crossing of the disk budget's alert ratio."""
        used = await asyncio.to_thread(disk_usage, self.writer.state.events)
        alert = self.disk.update(used)
        if alert is not None:
            self.log.warning("audit: events dir near its disk budget", **alert)
            await self._alert(alert)

    async def _alert(self, payload: dict[str, Any]) -> None:
        await self.publish("ALERT", payload)

    async def stop(self) -> None:
        self.writer.close()
        try:
            await self.publish_watermark()
        except Exception as exc:  # the bus may already be closing; the next start re-announces
            self.log.info("final watermark not published", error=str(exc))

    def kill(self) -> None:
        try:
            self.writer.close()
        except Exception:  # kill never raises; the next start recovers a torn tail
            pass

    def heartbeat(self) -> dict[str, Any]:
        out: dict[str, Any] = {"audit": {**self.writer.snapshot(), **self.disk.snapshot()}}
        if self.cfg.witnesses:
            out.update(self.pusher.snapshot())
        return out


def open_writer(runtime: Runtime) -> AuditWriter:
    """The writer, or exit ``EX_AUDIT`` (supervisord: FATAL) when the log needs an operator:
    it never builds on, nor seals, what it could not verify."""
    try:
        writer = AuditWriter(runtime.state, runtime.config.audit, runtime.clock,
                             log=runtime.log, source=runtime.name, pinned=read_pins(runtime.config))
        writer.principals_verified = getattr(runtime.bus, "gate", None) is not None
        return writer
    except (AuditStartError, AuditKeyError, ValueError) as exc:
        runtime.log.critical("audit: refusing to start", error=str(exc))
        print(f"hope {runtime.name}: refusing to start: audit log: {exc} (inspect with `hope "
              "audit status`, then `hope audit accept --reason TEXT`)", file=sys.stderr,
              flush=True)
        sys.exit(EX_AUDIT)


def watermark_payload(writer: AuditWriter) -> dict[str, Any]:
    return {"watermarks": writer.watermarks(), "durable": not writer.disk_full}
