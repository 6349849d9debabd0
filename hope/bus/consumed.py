"""A subscriber's consumer journal: which events its handlers finished, surviving restarts.

Append-only, compacted on start. It restores the stream cursors, so a restarted service asks
for exactly what it missed, and the per-handler "done" set, so a redelivered or retried event
runs no handler twice.

Two kinds of event, two records:

- An event with a handler that must not run twice (a SIGNAL, a DECISION) gets its own record
  (``e``: stream, number, event id, the handlers that finished), one ``os.write`` as soon as its
  handlers are done, and its id is remembered for dedupe (at most ``max_ids``).
- An *idempotent* event (every handler on its route declared ``idempotent``: safe to run again
  on the same event, as the PRICE handlers that only move a last price) is recorded as coverage
  only: :meth:`ConsumerJournal.settled` adds its number to runs of consecutive numbers per
  stream, and :meth:`ConsumerJournal.flush` writes them as ``c`` (covered range) records in one
  ``os.write``. No id is kept. The bus flushes when a socket read batch ends (at most every
  ``hope.bus.reader.COVERAGE_EVERY_S``, the rest by a timer), every 50 ms from its maintenance
  task (events a waiting handler held back), and before any other record, which
  is written in the same ``os.write`` after the coverage before it, so the file keeps the order
  in which events finished.

Crash semantics: after a SIGKILL, at most the idempotent events finished since the last flush
(those read in the last ``COVERAGE_EVERY_S``, the read batch being handled, or what the handler
loop ran in the last 50 ms) are missing from the cursors, asked for again and handled again:
harmless by their declaration. Every other event
keeps the exact guarantee: a handler that finished it never runs on it again. A failed handler
is not done either way: its DEAD_LETTER comes back as RETRY, the retried handler is recorded by
id (``h``) as before.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import structlog

from hope.bus.cursor import ALL, Cursors, StreamKey
from hope.codec import decode_obj, encode_obj
from hope.envelope import Envelope
from hope.paths import StatePaths
from hope.tails import frame, keep_tail, read_frames

log = structlog.get_logger("hope.journal")
ANY_HANDLER = "*"
LEGACY_SCOPE = ".<locals>."


def current_handler_name(name: str) -> str:
    """A handler name as this version spells it: names from before declared services were
    closures' qualified names (``setup.<locals>.on_decision``), now the method's (``on_decision``).
    Journals and dead letters filed before the upgrade still dedupe and retry."""
    return name.rpartition(LEGACY_SCOPE)[2] if LEGACY_SCOPE in name else name


def handler_names(names: str | frozenset[str]) -> frozenset[str]:
    """The handlers of one ``ConsumerJournal.done`` entry as a set."""
    return frozenset((names,)) if type(names) is str else names


class ConsumerJournal:
    def __init__(self, path: Path, cursors: Cursors, max_ids: int = 200_000,
                 quarantine_dir: Path | None = None) -> None:
        self.path = path
        self.quarantine_dir = quarantine_dir  # evidence of a torn record (None: logged only)
        self.cursors = cursors
        self.max_ids = max_ids
        # event id → the handlers that finished it: one name as a str (the usual case), several
        # as a frozenset. Strings are not tracked by the collector, so up to ``max_ids``
        # remembered events do not set off a young collection every ``threshold0`` events.
        self.done: OrderedDict[str, str | frozenset[str]] = OrderedDict()
        self._fd: int | None = None
        # idempotent events finished since the last flush: [first, last] runs per stream
        self._runs: dict[StreamKey, list[list[int]]] = {}

    @classmethod
    def for_service(cls, state: StatePaths, name: str) -> Callable[[Cursors], ConsumerJournal]:
        """The default journal factory of a service's bus: ``outbox/<name>/consumed.log``."""
        return lambda cursors: cls(state.outbox / name / "consumed.log", cursors,
                                   quarantine_dir=state.quarantine)

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._load()
        self._compact()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.flush()
            except OSError as exc:  # disk full: those events are offered again after a restart
                log.error("journal_flush_failed", path=str(self.path), error=str(exc))
            os.close(self._fd)
            self._fd = None

    def is_done(self, handler: str, event_id: str) -> bool:
        names = self.done.get(event_id)
        if names is None:
            return False
        if type(names) is str:
            return names in (handler, ANY_HANDLER)
        return handler in names or ANY_HANDLER in names

    def mark_done(self, event_id: str, handlers: list[str]) -> None:
        """Remember handlers finished for an event (causation from our own outbox: ANY)."""
        self._remember(event_id, handlers)
        self._write(["h", event_id, handlers])

    def consumed(self, publisher: str, epoch: str, event_type: str, n: int, event_id: str,
                 handlers: list[str]) -> None:
        self._remember(event_id, handlers)
        self._write(["e", publisher, epoch, self._kind(event_type), n, event_id, handlers])

    def settled(self, publisher: str, epoch: str, event_type: str, n: int) -> None:
        """An idempotent event finished: its number joins the coverage the next :meth:`flush`
        writes (consecutive numbers of a stream are one range); no id is remembered."""
        key = (publisher, epoch, self._kind(event_type))
        runs = self._runs.get(key)
        if runs is None:
            self._runs[key] = [[n, n]]
        elif runs[-1][1] + 1 == n:
            runs[-1][1] = n
        else:
            runs.append([n, n])

    def flush(self) -> None:
        """Write the coverage :meth:`settled` gathered, one ``os.write`` for all of it."""
        if self._runs:
            data = self._coverage()
            if self._fd is not None:
                os.write(self._fd, data)

    def covered(self, publisher: str, epoch: str, kind: str, first: int, last: int) -> None:
        self._write(["c", publisher, epoch, kind, first, last])

    def missing(self, publisher: str, epoch: str, first: int, last: int) -> None:
        """A range no outbox could replay: covered() settles it; nothing more to keep here."""

    # internals --------------------------------------------------------------------------
    def _kind(self, event_type: str) -> str:
        return ALL if self.cursors.track_all else event_type

    def _remember(self, event_id: str, handlers: list[str]) -> None:
        if not handlers:
            return
        done = self.done
        before = done.get(event_id)
        if before is None and len(handlers) == 1:
            done[event_id] = handlers[0]
        else:
            names = set(handlers)
            if before is not None:
                names.update(handler_names(before))
                done.move_to_end(event_id)
            done[event_id] = next(iter(names)) if len(names) == 1 else frozenset(names)
        while len(self.done) > self.max_ids:
            self.done.popitem(last=False)

    def _write(self, item: list) -> None:
        """One record, after the coverage gathered before it (in the same ``os.write``)."""
        data = frame(encode_obj(item))
        if self._runs:
            data = self._coverage() + data
        if self._fd is not None:
            os.write(self._fd, data)

    def _coverage(self) -> bytes:
        """The gathered runs as ``c`` records, forgotten here (a failed write does not retry
        them: those events are offered again after a restart, as after a crash)."""
        runs, self._runs = self._runs, {}
        return b"".join(frame(encode_obj(["c", pub, epoch, kind, first, last]))
                        for (pub, epoch, kind), spans in runs.items() for first, last in spans)

    def _remember_loaded(self, event_id: str, handlers: list[str]) -> None:
        self._remember(event_id, [current_handler_name(h) for h in handlers])

    def _load(self) -> None:
        data = self.path.read_bytes()
        frames, end = read_frames(data)
        # compaction rewrites the file from what loaded: keep the evidence, the cut is implicit
        keep_tail(self.path, data, end, self.quarantine_dir, "consumer-journal",
                  "consumer journal: torn record", log, truncate=False)
        for pos, chunk in frames:
            try:
                item = decode_obj(chunk)
                if item[0] == "e":
                    _, pub, epoch, kind, n, event_id, handlers = item
                    self.cursors.get((pub, epoch, kind)).add(n)
                    self._remember_loaded(event_id, handlers)
                elif item[0] == "c":
                    _, pub, epoch, kind, first, last = item
                    self.cursors.get((pub, epoch, kind)).cover(first, last)
                elif item[0] == "h":
                    self._remember_loaded(item[1], item[2])
            except Exception as exc:
                log.error("journal_bad_record", path=f"{self.path}:{pos}", error=str(exc))

    def _compact(self) -> None:
        items: list[list] = []
        for (pub, epoch, kind), cur in self.cursors.streams.items():
            if cur.low:
                items.append(["c", pub, epoch, kind, 1, cur.low])
            items.extend(["c", pub, epoch, kind, n, n] for n in sorted(cur.above))
        items.extend(["h", eid, sorted(handler_names(names))] for eid, names in self.done.items())
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            for item in items:
                fh.write(frame(encode_obj(item)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class JournalAccess:
    """The bus's side of the delivery journal (a mixin of :class:`hope.bus.zmq.ZmqBus`; uses its
    ``journal``, ``cursors``, ``counters`` and ``name``)."""

    def consumed(self, env: Envelope, handlers: list[str], idempotent: bool = False) -> None:
        if self.journal and env.publisher and env.seq:
            n = env.seq if self.cursors.track_all else env.tseq
            if idempotent:  # memory only until the next flush
                self.journal.settled(env.publisher, env.epoch, env.event_type, n)
            else:
                self._journal(self.journal.consumed, env.publisher, env.epoch, env.event_type,
                              n, env.event_id, handlers)

    def flush_journal(self) -> None:
        """Write the idempotent events' coverage gathered since the last flush (the bus calls
        it when a read batch ends and from its maintenance task)."""
        if self.journal:
            self._journal(self.journal.flush)

    def is_done(self, handler: str, event_id: str) -> bool:
        return bool(self.journal) and self.journal.is_done(handler, event_id)

    def mark_done(self, event_id: str, handlers: list[str]) -> None:
        if self.journal:
            self._journal(self.journal.mark_done, event_id, handlers)

    def _journal(self, write: Callable[..., None], *args: object) -> None:
        """A journal write that fails (disk full) is loud but not fatal: the event stays
        handled in memory; after a restart it would only be offered again (and deduped by the
        outbox causation check where it published anything)."""
        try:
            write(*args)
        except OSError as exc:
            self.counters["journal_errors"] += 1
            if self.counters["journal_errors"] <= 10 or self.counters["journal_errors"] % 1000 == 0:
                log.critical("journal_write_failed", service=self.name, error=str(exc),
                             count=self.counters["journal_errors"])
