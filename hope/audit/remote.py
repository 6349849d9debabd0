"""The audit log read from another host, over the bus: the ``audit-reader`` program on the audit
host answers, any host asks (the decision engine's rebuild, ``hope trading status``).

Wire (internal frames, not events; like REPLAY they pass through the proxies)::

    [AUDITQ, {id, reply_to, op: "families" | "records", families: [...] | "*", exclude: [...]}]
    [AUDITA.<reply_to>, {id, n, last, families, records: {family: [record, ...]}}]

An answer comes in numbered chunks of at most ``CHUNK_RECORDS`` records; the asker takes chunk
``n`` once (with two proxies each arrives twice) and is done at the one marked ``last``. What
it gets is a :class:`SnapshotReader`, an :class:`~hope.audit.reader.AuditReader` like the local
one, so callers do not care where the log is.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from hope import codec
from hope.audit.reader import AuditReader, Located, Record, open_reader
from hope.config import Config
from hope.eventauth.gate import Refusal

QUERY = b"AUDITQ"
READER = "audit-reader"  # the principal whose signature an answer must carry
ANSWER = b"AUDITA."
CHUNK_RECORDS = 500
ASK_AGAIN_S = 3.0  # no complete answer by then: ask again (the first may have been lost)
OPS = ("families", "records")


class AuditUnavailable(RuntimeError):
    """The audit host did not answer (in time, or at all)."""


class SnapshotReader(AuditReader):
    """Records of some families fetched from the audit host, read like the local log."""

    def __init__(self, source: str, families: list[str], records: dict[str, list[Record]],
                 warnings: list[str]) -> None:
        super().__init__(source)
        self._families = families
        self._records = records
        self.warnings = list(warnings)

    def exists(self) -> bool:
        return True

    def families(self) -> list[str]:
        return list(self._families)

    def located(self, family: str) -> Iterator[Located]:
        for i, rec in enumerate(self._records.get(family, []), 1):
            yield Located(family, "remote", i, rec)


def answer(reader: AuditReader, request: dict[str, Any]) -> list[bytes]:
    """The chunk bodies answering ``request`` (the audit host's side; raises ValueError for a
    malformed request)."""
    op, qid = request.get("op"), request.get("id")
    if op not in OPS or not isinstance(qid, str):
        raise ValueError(f"bad audit query (op {op!r}, id {qid!r})")
    families = sorted(reader.families())
    asked = request.get("families") or []
    wanted = [] if op != "records" else [
        f for f in (families if asked == "*" else asked)
        if f in families and f not in (request.get("exclude") or [])]
    chunks: list[dict[str, Any]] = []
    current: dict[str, list[Record]] = {}
    size = 0
    for fam in wanted:
        for rec in reader.records(fam):
            current.setdefault(fam, []).append(rec)
            size += 1
            if size >= CHUNK_RECORDS:
                chunks.append(current)
                current, size = {}, 0
    chunks.append(current)
    return [codec.encode_obj({"id": qid, "n": n, "last": n == len(chunks) - 1,
                              "families": families, "records": recs,
                              "warnings": reader.warnings[:20] if n == len(chunks) - 1 else []})
            for n, recs in enumerate(chunks)]


class Query:
    """One question, asked once per attempt (each attempt its own id: the log may grow between
    them, so chunks of two attempts never mix); done when one attempt's chunks are all in."""

    def __init__(self) -> None:
        self.chunks: dict[str, dict[int, dict[str, Any]]] = {}
        self.totals: dict[str, int] = {}
        self.complete: str | None = None
        self.done = asyncio.Event()

    def attempt(self) -> str:
        qid = os.urandom(8).hex()
        self.chunks[qid] = {}
        return qid

    def on_chunk(self, body: dict[str, Any]) -> None:
        qid = body.get("id")
        if qid not in self.chunks or not isinstance(body.get("n"), int) or self.complete:
            return
        self.chunks[qid].setdefault(body["n"], body)
        if body.get("last"):
            self.totals[qid] = body["n"] + 1
        if qid in self.totals and len(self.chunks[qid]) >= self.totals[qid]:
            self.complete = qid
            self.done.set()

    def reader(self, source: str) -> SnapshotReader:
        records: dict[str, list[Record]] = {}
        families: list[str] = []
        warnings: list[str] = []
        qid = self.complete or ""
        for n in range(self.totals.get(qid, 0)):
            body = self.chunks[qid][n]
            families = body.get("families") or families
            warnings += body.get("warnings") or []
            for fam, recs in (body.get("records") or {}).items():
                records.setdefault(fam, []).extend(recs)
        return SnapshotReader(source, families, records, warnings)


def open_audit(config: Config, families: list[str] | str = "*", exclude: list[str] = (),
               asker: str = "operator") -> AuditReader:
    """The audit log as ``[audit] reader`` says: this state dir's, or the audit host's
    (``families``, all by default, but ``exclude``) asked over the bus: for the CLI."""
    if config.audit.reader == "local":
        return open_reader(config.state)
    return asyncio.run(fetch(config, families, asker=asker, exclude=list(exclude)))


async def fetch(config: Config, families: list[str] | str, *, asker: str,
                timeout_s: float | None = None, exclude: list[str] = ()) -> SnapshotReader:
    """The records of ``families`` (a list or ``"*"``, less ``exclude``; and the list of all
    families) from the audit host, through a short-lived bus client of ``asker``'s.
    Raises :class:`AuditUnavailable`."""
    from hope.bus.zmq import ZmqBus  # pyzmq only where the bus is used

    timeout = timeout_s if timeout_s is not None else config.audit.reader_timeout_s
    # under the asker's own name: event authentication addresses answers to that principal
    bus = ZmqBus(asker, config, recover=False, journal=False, outbox=False,
                 handshake_timeout_s=timeout, principal=asker)
    query = Query()
    topic = ANSWER + bus.epoch.encode()

    def on_answer(frames: list[bytes]) -> None:
        if not 2 <= len(frames) <= 3:
            return
        if bus.gate is not None:  # an answer not signed by the audit-reader is no answer
            try:
                bus.gate.admit_marker(frames[1], frames[2] if len(frames) == 3 else None,
                                      READER)
            except Refusal as exc:
                bus.refuse(exc.reason, f"audit answer refused: {exc.message}")
                return
        query.on_chunk(codec.decode_obj(frames[1]))

    bus.add_internal(topic, on_answer)
    deadline = time.monotonic() + timeout
    try:
        await bus.start()
        while not query.done.is_set():  # asked again until answered: a query can be lost
            left = deadline - time.monotonic()
            if left <= 0:
                raise AuditUnavailable(f"no answer from the audit host's audit-reader within "
                                       f"{timeout:g}s")
            bus.publish_raw([QUERY, codec.encode_obj({
                "id": query.attempt(), "reply_to": bus.epoch, "op": "records",
                "families": families, "exclude": list(exclude)})])
            try:
                await asyncio.wait_for(query.done.wait(), min(left, ASK_AGAIN_S))
            except TimeoutError:
                pass
    except Exception as exc:
        if isinstance(exc, AuditUnavailable):
            raise
        raise AuditUnavailable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        await bus.stop()
    return query.reader(f"audit-reader via {bus.links.describe()}")


class RecentIds:
    """Query ids answered lately: a query heard through both proxies is answered once."""

    def __init__(self, size: int = 1024) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.size = size

    def first_time(self, qid: str) -> bool:
        if qid in self._ids:
            return False
        self._ids[qid] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True
