"""``audit-reader``: answers audit-log queries over the bus on the audit host, so the decision
engine's rebuild and the CLI work from any host (protocol: :mod:`hope.audit.remote`).

Reads through :func:`hope.audit.reader.open_reader` in a worker thread (a big log never stalls
the loop), one query at a time; a query heard through two proxies is answered once; a malformed
one is refused and counted (``refusals.audit_query_malformed`` in the heartbeat).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from hope import codec
from hope.audit.reader import open_reader
from hope.audit.remote import ANSWER, QUERY, RecentIds, answer
from hope.runtime import Runtime
from hope.service import Service


class AuditReaderService(Service):
    name = "audit-reader"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.answered = RecentIds()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=64)
        self.counts: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.worker: asyncio.Task | None = None
        runtime.bus.add_internal(QUERY, self.on_query)

    @classmethod
    def create(cls, runtime: Runtime) -> AuditReaderService:
        return cls(runtime)

    def on_query(self, frames: list[bytes]) -> None:
        try:
            req = codec.decode_obj(frames[1]) if len(frames) == 2 else None
            if not isinstance(req, dict) or not isinstance(req.get("id"), str) \
                    or not isinstance(req.get("reply_to"), str):
                raise ValueError("not a query map with id and reply_to")
        except Exception as exc:
            self.refusals["audit_query_malformed"] += 1
            self.log.warning("audit_query_refused", error=str(exc)[:200])
            return
        if not self.answered.first_time(req["id"]):
            self.counts["copies"] += 1
            return
        try:
            self.queue.put_nowait(req)
        except asyncio.QueueFull:
            self.refusals["audit_query_overloaded"] += 1

    async def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self.serve())

    async def serve(self) -> None:
        while True:
            req = await self.queue.get()
            try:
                chunks = await asyncio.to_thread(answer, open_reader(self.state), req)
            except ValueError as exc:
                self.refusals["audit_query_malformed"] += 1
                self.log.warning("audit_query_refused", error=str(exc)[:200])
                continue
            topic = ANSWER + req["reply_to"].encode()[:40]
            bus = self.runtime.bus
            for body in chunks:  # sealed: the asker takes answers signed by audit-reader only
                bus.publish_raw(bus.sealed([topic, body]) if hasattr(bus, "sealed")
                                else [topic, body])
            self.counts["answered"] += 1
            self.counts["chunks"] += len(chunks)

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def kill(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def heartbeat(self) -> dict[str, Any]:
        return {"audit_reader": dict(self.counts), "refusals": dict(self.refusals)}
