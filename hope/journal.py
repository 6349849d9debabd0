"""Append-only JSON-lines journal with group commit: the durability model of the executor's and
the venue fill book's files.

Durability (the same model as the bus outbox and the audit writer):

- **SIGKILL**: everything, immediately. Each :meth:`Journal.append` is one ``os.write`` of a whole
  line to an ``O_APPEND`` descriptor; once it returns the bytes are in the kernel page cache, which
  outlives the process.
- **Power loss**: up to ``fsync_interval_s``. ``fsync`` runs at most that long after the first
  unsynced append: from the service's periodic :meth:`sync` (off the event loop) or, when that task
  runs late, piggybacked on the next append. ``fsync_interval_s == 0`` syncs every append.

A torn last line (power loss, or a kill in the middle of a very large write) is tolerated on read:
:func:`read_journal` returns it apart, the owner quarantines it and carries on without it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from hope.files import fsync_dir
from hope.tails import keep_evidence

# The ledger's JSON (journal lines here, snapshots in hope.execution.positions): ~10x faster
# than json.dumps; plain compact JSON that json.loads reads. msgspec would write NaN as null,
# but no ledger value is ever non-finite.
JSON = msgspec.json.Encoder()


@dataclass
class JournalContents:
    records: list[Any] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)   # "file:line: reason" of corrupt inner lines
    torn: bytes = b""                              # an incomplete/unparsable last line
    torn_where: str = ""                           # "file:line" of the torn line
    good_size: int = 0                             # bytes up to the end of the last good line


def read_journal(path: Path) -> JournalContents | None:
    """Every record of ``path`` (None when it does not exist), separating a torn last line."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    out = JournalContents()
    lines = data.split(b"\n")
    # data ends with "\n" when complete: the last split item is then empty
    last = len(lines) - 1 if lines[-1] == b"" else len(lines)
    offset = 0
    for lineno, line in enumerate(lines[:last], 1):
        end = offset + len(line) + 1
        is_last = lineno == last
        if line.strip():
            try:
                if is_last and end > len(data):
                    raise ValueError("no end of line")
                out.records.append(json.loads(line))
            except ValueError as exc:
                where = f"{path}:{lineno}"
                if is_last:
                    out.torn, out.torn_where = line, where
                    break
                out.bad.append(f"{where}: {exc}")
        out.good_size = min(end, len(data))
        offset = end
    return out


def quarantine_torn(contents: JournalContents, quarantine_dir: Path, name: str,
                    log: Any = None) -> None:
    """Keep a torn last line as evidence and say so; never raises."""
    if contents.torn:
        keep_evidence(Path(quarantine_dir), name, contents.torn, "torn last journal line",
                      contents.torn_where, log)


class Journal:
    """One append-only file, group-committed. ``sync`` is safe to call from another thread."""

    def __init__(self, path: Path, *, fsync_interval_s: float = 0.02,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.fsync_interval_s = fsync_interval_s
        self.clock = clock
        self.fsyncs = 0
        self._fd: int | None = None
        self._dirty_since: float | None = None   # time of the first unsynced append
        self._lock = threading.Lock()            # fsync (maybe in a thread) vs close

    def open(self, *, truncate_to: int | None = None) -> None:
        """Open for appending; a new file's directory entry is fsynced before any record."""
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # 0640 under the umask (077 by default: 0600): the gateway reads positions too
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        if truncate_to is not None and os.fstat(fd).st_size > truncate_to:
            os.ftruncate(fd, truncate_to)  # cut a torn tail so the next line starts clean
            os.fsync(fd)
        if created:
            fsync_dir(self.path.parent)
        self._fd = fd

    @property
    def dirty(self) -> bool:
        """Appended lines not yet fsynced (cheap: lets the caller skip a thread hop)."""
        return self._dirty_since is not None

    def append(self, record: Any) -> None:
        """One record = one line = one ``os.write`` (durable against SIGKILL on return)."""
        if self._fd is None:
            self.open()
        line = JSON.encode(record) + b"\n"
        os.write(self._fd, line)  # type: ignore[arg-type]
        now = self.clock()
        if self._dirty_since is None:
            self._dirty_since = now
        if self.fsync_interval_s <= 0 or now - self._dirty_since >= self.fsync_interval_s:
            self.sync()  # piggybacked: the periodic sync is late (or strict mode)

    def sync(self) -> bool:
        """fsync if anything was appended since the last one; True when it did."""
        with self._lock:
            if self._fd is None or self._dirty_since is None:
                return False
            # cleared before fsync: an append racing with it marks the journal dirty again
            self._dirty_since = None
            os.fsync(self._fd)
            self.fsyncs += 1
            return True

    def close(self) -> None:
        """Sync and close (waits for an fsync running in another thread)."""
        self.sync()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
