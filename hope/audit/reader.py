"""Reading the audit log: one interface, the local-files implementation.

Everything that reads audited events (``hope report``, ``hope trace``, the decision engine's risk
rebuild, the gateway, ``hope replay``, the chaos checks, tests) goes through an
:class:`AuditReader`, so the segment order comes from the manifest the writer keeps
(``hope.audit.log.Manifest``) and a bad line is reported the same way everywhere
(``events/<segment>:<line>: reason`` in ``reader.warnings``, the line skipped).

:class:`LocalAuditReader` reads ``<state>/events``; a reader of a log kept on another host (a
service answering over the bus) implements the two abstract methods and inherits the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hope.audit.canonical import family_for
from hope.audit.lines import BadLine, parse_record
from hope.audit.log import Manifest, read_segment
from hope.paths import StatePaths

Record = dict[str, Any]


@dataclass(frozen=True)
class Located:
    """A record and where it lies: ``events/<segment>:<line>``."""

    family: str
    segment: str
    line: int
    record: Record

    @property
    def where(self) -> str:
        return f"events/{self.segment}:{self.line}"


class AuditReader(ABC):
    """Read-only access to the audit log's families. Bad lines land in :attr:`warnings`."""

    def __init__(self, source: str) -> None:
        self.source = source  # where the log is, for messages (a directory, a service's name)
        self.warnings: list[str] = []

    @abstractmethod
    def families(self) -> list[str]:
        """The families present (``signals``, ``decisions``, ...), in no particular order."""

    @abstractmethod
    def located(self, family: str) -> Iterator[Located]:
        """Every readable record of ``family`` in append order, repeats included."""

    def records(self, family: str, *, unique: bool = True) -> Iterator[Record]:
        """The records of ``family`` in order; with ``unique`` each ``event_id`` once."""
        seen: set[str] = set()
        for loc in self.located(family):
            eid = loc.record.get("event_id")
            if unique and isinstance(eid, str):
                if eid in seen:
                    continue
                seen.add(eid)
            yield loc.record

    def by_correlation(self, correlation_id: str,
                       families: Iterable[str] | None = None) -> list[Located]:
        """Every record whose correlation id is ``correlation_id`` or starts with it (``hope
        sniff`` shows the first 12 characters; default: all families but market data)."""
        fams = families if families is not None else [f for f in self.families()
                                                       if f != family_for("PRICE")]
        return [loc for fam in fams for loc in self.located(fam)
                if _matches(loc.record, correlation_id)]

    def last(self, event_type: str, n: int) -> list[Record]:
        """The newest ``n`` records of ``event_type``, oldest first."""
        out: deque[Record] = deque(maxlen=max(n, 0))
        for rec in self.records(family_for(event_type)):
            if rec.get("event_type") == event_type:
                out.append(rec)
        return list(out)


class LocalAuditReader(AuditReader):
    """The audit log in a local ``events/`` directory, segments in manifest order."""

    def __init__(self, events: Path) -> None:
        super().__init__(str(events))
        self.events = Path(events)

    def exists(self) -> bool:
        return self.events.is_dir()

    def _manifest(self) -> Manifest:
        return Manifest.load(self.events) if self.exists() else Manifest(self.events)

    def families(self) -> list[str]:
        return sorted(self._manifest().families)

    def segments(self, family: str) -> list[str]:
        return list(self._manifest().families.get(family, []))

    def located(self, family: str) -> Iterator[Located]:
        for seg in self.segments(family):
            try:
                data = read_segment(self.events, seg)
            except OSError as exc:
                self.warnings.append(f"events/{seg}: unreadable ({exc})")
                continue
            for n, raw in enumerate(data.split(b"\n"), 1):
                if not raw.strip():
                    continue
                try:
                    rec = parse_record(raw)
                except BadLine as exc:
                    self.warnings.append(f"events/{seg}:{n}: {exc}")
                    continue
                if not isinstance(rec.get("payload"), dict):
                    self.warnings.append(f"events/{seg}:{n}: not an audit record (no payload map)")
                    continue
                yield Located(family, seg, n, rec)

    def by_correlation(self, correlation_id: str,
                       families: Iterable[str] | None = None) -> list[Located]:
        needle = correlation_id.encode()
        fams = families if families is not None else [f for f in self.families()
                                                       if f != family_for("PRICE")]
        out = []
        for fam in fams:
            for seg in self.segments(fam):
                try:
                    data = read_segment(self.events, seg)
                except OSError:
                    continue
                for n, raw in enumerate(data.split(b"\n"), 1):
                    if needle not in raw:
                        continue  # cheap prefilter before parsing
                    try:
                        rec = parse_record(raw)
                    except BadLine:
                        continue
                    if _matches(rec, correlation_id):
                        out.append(Located(fam, seg, n, rec))
        return out


def _matches(rec: Record, correlation_id: str) -> bool:
    cid = rec.get("correlation_id")
    return bool(correlation_id) and isinstance(cid, str) and cid.startswith(correlation_id)


def open_reader(state: StatePaths) -> LocalAuditReader:
    """The reader of an instance's own audit log."""
    return LocalAuditReader(state.events)
