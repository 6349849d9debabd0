"""The audit-writer service: subscribe to everything, persist, publish the durable watermark.

- every event → :meth:`AuditWriter.append` (duplicates dropped; heartbeats summarised);
- every ``fsync_interval_ms`` → :meth:`AuditWriter.tick_off_loop` (group commit, checkpoints);
- ``watermark_hz`` times a second → ephemeral ``WATERMARK`` with payload
  ``{"watermarks": {publisher: {epoch: seq}}, "durable": bool}`` (``durable`` is False while
  writes fail, e.g. disk full: the numbers then stop moving);
- the log is the delivery journal (:class:`AuditLogJournal`, supplied through
  ``Service.journal()``): cursors start from what is durably written, and a range no outbox can
  replay becomes a GAP record;
- on stop (SIGTERM): heartbeat summaries, fsync, final checkpoint, one last WATERMARK.
"""

from __future__ import annotations

from typing import Any

from hope.audit.writer import AuditWriter
from hope.bus.base import JournalFactory
from hope.bus.cursor import Cursors
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, every, subscribe


class AuditLogJournal:
    """The audit log as the bus's delivery journal. The generic consumer journal would mark an
    event consumed when the handler returns, while its record may still sit in the writer's
    group-commit buffer; after a SIGKILL the writer must ask again for exactly what that buffer
    lost. So the cursors are seeded from what the log durably holds, dedupe is the writer's own
    (by ``event_id``), and nothing else is recorded."""

    def __init__(self, writer: AuditWriter, cursors: Cursors) -> None:
        self.writer = writer
        self.cursors = cursors

    def open(self) -> None:
        for (publisher, epoch), track in self.writer.seqs.items():
            key = self.cursors.key(publisher, epoch, "")
            self.cursors.seed(key, track.contig)
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

    @classmethod
    def create(cls, runtime: Runtime, *, writer: AuditWriter | None = None
               ) -> AuditWriterService:
        return cls(runtime, writer=writer or AuditWriter(
            runtime.state, runtime.config.audit, runtime.clock, log=runtime.log,
            source=runtime.name))

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
        return {"audit": self.writer.snapshot()}


def watermark_payload(writer: AuditWriter) -> dict[str, Any]:
    return {"watermarks": writer.watermarks(), "durable": not writer.disk_full}
