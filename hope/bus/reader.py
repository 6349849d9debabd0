"""How a ZeroMQ bus reads its ordinary SUB: from the event loop's own epoll, in batches, at
once or (spaced reads) at most once per gap (a mixin of :class:`hope.bus.zmq.ZmqBus`; uses its
``_loop``, ``_sub``, ``_on_frames``, ``flush_journal`` and ``name``).

When a read batch ends, the coverage of its idempotent events is written
(:meth:`hope.bus.consumed.ConsumerJournal.flush`) at most once per ``COVERAGE_EVERY_S`` of the
loop's clock; a batch that ends sooner leaves it to a timer at the end of that interval. A
process woken for every PRICE otherwise made one ``os.write`` per PRICE (~15 % of its receive
path in-process, plus the system call). After a SIGKILL the idempotent events of the last
interval are asked for and handled again (the window a read batch in progress also has).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
import zmq

log = structlog.get_logger("hope.bus")

READ_BATCH = 256  # frames per loop turn before timers and handlers get a go
COVERAGE_EVERY_S = 0.005  # loop clock: idempotent events' coverage written at most this often
# pyzmq's constants are enum members whose arithmetic runs Python code: plain ints per call
_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)


def message_reader(sock: zmq.Socket) -> Callable[[int], list[bytes]]:
    """``sock.recv_multipart`` for a zmq socket, reading the parts as Frames until ``more`` is
    false: ``recv_multipart`` asks the socket for RCVMORE after each part, an option lookup
    through an enum (~2 µs per three-part event). A test's stand-in socket keeps its own."""
    if not isinstance(sock, zmq.backend.Socket):
        return sock.recv_multipart
    recv = sock.recv

    def read(flags: int) -> list[bytes]:
        part = recv(flags, copy=False)
        frames = [part.bytes]
        while part.more:
            part = recv(flags, copy=False)
            frames.append(part.bytes)
        return frames
    return read


class SubReader:
    def init_reader(self) -> None:
        self._read_gap, self._next_read, self._read_later = 0.0, 0.0, False
        self._read_timer: asyncio.TimerHandle | None = None
        self._next_flush, self._flush_later = 0.0, False
        self._flush_timer: asyncio.TimerHandle | None = None

    def reset_reader(self) -> None:
        """Forget a pending spaced read and flush (the bus stops, or starts on a new loop;
        closing the journal writes what it gathered)."""
        for timer in (self._read_timer, self._flush_timer):
            if timer is not None:
                timer.cancel()
        self._next_read, self._read_later, self._read_timer = 0.0, False, None
        self._next_flush, self._flush_later, self._flush_timer = 0.0, False, None

    def space_reads(self, gap_s: float) -> None:
        """Read the SUB at most once per ``gap_s``, everything queued at once: for a service
        whose events may wait that long (the audit writer), one wake-up per gap instead of one
        per frame; at a few thousand frames a second most of a busy process's CPU is the cold
        work of waking up, not the frames."""
        self._read_gap = gap_s

    def _on_readable(self) -> None:
        """The SUB's FD said readable: read now, or (spaced reads) once the gap since the last
        read has passed, from a timer, so nothing queued waits longer than the gap. Until then
        the FD is not watched: unread, it stays readable, and the loop would spin on it."""
        loop, sub = self._loop, self._sub
        if self._read_gap and loop is not None and sub is not None:
            now = loop.time()
            if now < self._next_read:
                if not self._read_later:
                    self._read_later = True
                    loop.remove_reader(sub.FD)
                    self._read_timer = loop.call_at(self._next_read, self._read_spaced)
                return
            self._next_read = now + self._read_gap
        self._read_batch()

    def _read_spaced(self) -> None:
        self._read_later, self._read_timer = False, None
        if self._loop is not None and self._sub is not None:  # not stopped meanwhile
            self._loop.add_reader(self._sub.FD, self._on_readable)
            self._on_readable()

    def _read_batch(self) -> None:
        """Drain the SUB socket from the event loop's own epoll, no Future per message: the FD is
        edge-triggered, so read until nothing is left, or reschedule when the batch cap (fairness
        to timers and handlers) leaves messages behind; then journal its idempotent events."""
        sub = self._sub
        if sub is None:
            return
        events, recv, on_frames = sub.getsockopt, message_reader(sub), self._on_frames
        for i in range(READ_BATCH):
            try:
                # The first message is read without asking EVENTS: the FD woke us, and a
                # wake-up with nothing to read was 2 in 16,000 under a PRICE stream. After it,
                # ask first: a recv that ends each batch by raising Again costs more.
                if i and not events(_EVENTS) & _POLLIN:
                    break
                frames = recv(_NOBLOCK)
            except zmq.Again:
                break
            except zmq.ZMQError as exc:  # socket closed under us while stopping
                log.debug("bus_read_stopped", service=self.name, error=str(exc))
                break
            try:
                on_frames(frames)
            except Exception as exc:  # a bug here must not kill delivery
                log.exception("bus_frame_handling_failed", service=self.name, error=str(exc))
        else:
            self._loop.call_soon(self._read_batch)
        self._flush_when_due()

    def _flush_when_due(self) -> None:
        """The journal's coverage now, or by a timer once ``COVERAGE_EVERY_S`` has passed
        since the last write (see the module docstring)."""
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        if now >= self._next_flush:
            self._next_flush = now + COVERAGE_EVERY_S
            self.flush_journal()
        elif not self._flush_later:
            self._flush_later = True
            self._flush_timer = loop.call_at(self._next_flush, self._flush_due)

    def _flush_due(self) -> None:
        self._flush_later, self._flush_timer = False, None
        self._flush_when_due()
