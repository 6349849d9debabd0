"""Group commit for :class:`hope.audit.writer.AuditWriter`: write what is buffered, fsync it
(inline or in a worker thread), and on success move the durable marks a checkpoint seals.

A mixin (the writer is long enough without it). It uses the writer's ``families``,
``checkpoints``, ``seqs``, ``cfg``, ``clock``, ``log``, ``stats``, ``disk_full``,
``_deferred``, ``_retry_deferred``, ``_unsynced``, ``_last_sync``, ``_marks_pending``,
``_durable``, ``_durable_sealed``, ``durable_checkpoint``, ``tree``, ``_checkpoint_due`` and
``checkpoint``. Any OSError writing or fsyncing sets ``disk_full``; nothing buffered is dropped.
"""

from __future__ import annotations

import asyncio
import errno

from hope.audit.log import SyncTicket, fsync_all


class GroupCommit:
    def _pending_bytes(self) -> int:
        return sum(len(f.file.pending) for f in self.families.values() if f.file) + \
            self.checkpoints.pending + 512 * len(self._deferred)

    def _sync_due(self) -> bool:
        # the epsilon absorbs float rounding of clock differences near the deadline
        return self.clock.monotonic() - self._last_sync >= self.cfg.fsync_interval_ms / 1000 - 1e-6

    def sync(self) -> bool:
        """Write and fsync everything buffered; True when durable. Never raises on OSError."""
        ticket = self._begin_sync()
        return ticket is not None and self._end_sync(ticket, fsync_all(ticket.files))

    async def sync_off_loop(self) -> bool:
        """:meth:`sync` with the fsyncs in a worker thread, so appends go on meanwhile; the
        watermark and checkpoints cover what was written before the fsync began. One at a
        time (the service's timer awaits it)."""
        ticket = self._begin_sync()
        if ticket is None:
            return False
        try:
            error = await asyncio.to_thread(fsync_all, ticket.files)
        except asyncio.CancelledError:  # stopping: close() fsyncs these files again
            for f in ticket.files:
                f.dirty = True
            raise
        return self._end_sync(ticket, error)

    def _begin_sync(self) -> SyncTicket | None:
        """Write what is buffered and note what the fsync will make durable."""
        now = self.clock.monotonic()
        self._last_sync = now
        try:
            if not self._retry_deferred():
                raise OSError(errno.ENOSPC, "a log file could not be opened")
            for fam in self.families.values():
                fam.file.flush()
            self.checkpoints.flush()
            self.tree.flush()  # (a cache the next start-up rebuilds: not fsynced)
        except OSError as exc:
            self._write_failed(exc)
            return None
        files = [fam.file for fam in self.families.values()]
        files += [self.checkpoints.main, self.checkpoints.copy]
        dirty = [f for f in files if f.dirty]
        for f in dirty:
            f.dirty = False
        marks, self._marks_pending = self._marks_pending, None
        return SyncTicket(dirty, self.seqs.lows(), self._sealable(),
                          self._unsynced, now, marks)

    def _sealable(self) -> tuple[int, dict[str, tuple[int, str]]]:
        return self.tree.size, {n: (f.count, f.head) for n, f in self.families.items()}

    def _end_sync(self, ticket: SyncTicket, error: OSError | None) -> bool:
        if error is not None:
            for f in ticket.files:
                f.dirty = True
            if ticket.sealed_marks is not None and self._marks_pending is None:
                self._marks_pending = ticket.sealed_marks  # the next fsync covers those lines
            self._write_failed(error)
            return False
        if self.disk_full:
            self.log.warning("audit: writes resumed; watermark moving again")
            self.disk_full = False
        self._unsynced = max(0, self._unsynced - ticket.unsynced)
        if ticket.sealed_marks is not None:  # a checkpoint is durable: acknowledge what it seals
            self._durable, self._durable_sealed, self.durable_checkpoint = ticket.sealed_marks
        for name, fam in self.families.items():
            fam.rotate_if_full(self.cfg.segment_max_bytes, self._durable_sealed.get(name, 0))
        if self._checkpoint_due(ticket.started):
            self.checkpoint(ticket.sealable, ticket.seqs)
        return True

    def _write_failed(self, exc: OSError) -> None:
        self.stats["write_errors"] += 1
        if not self.disk_full:
            self.log.critical("audit: WRITE FAILED, watermark stopped; keeping records in "
                              "memory and retrying", error=str(exc), errno=exc.errno,
                              pending_bytes=self._pending_bytes())
        self.disk_full = True
