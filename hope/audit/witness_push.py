"""The audit writer's side of its witnesses: push the latest *durable* checkpoint.

Every ``[audit] witness_interval_s`` each witness in ``[audit] witnesses`` (``"URL"`` or
``"URL <witness vkey>"``) gets the newest checkpoint whose lines are fsynced (never one a crash
could take back), with the consistency proof from the size it holds. A 409 tells that size:
the proof is rebuilt from it and sent again at once. A witness holding *more* than the log
(a rollback) or failing is alerted (an ALERT event and the heartbeat's ``witnesses`` status);
trading goes on. Proofs are built on the event loop (O(log n)); HTTP runs in a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hope.audit.witness_client import PushResult, WitnessClient
from hope.audit.writer import AuditWriter

Alert = Callable[[dict[str, Any]], Awaitable[Any]]


def parse_entry(entry: str) -> WitnessClient:
    url, _, vkey = entry.strip().partition(" ")
    return WitnessClient(url, vkey.strip())


class WitnessPusher:
    def __init__(self, writer: AuditWriter, entries: list[str], log: Any,
                 alert: Alert | None = None) -> None:
        self.writer = writer
        self.clients = [parse_entry(e) for e in entries]
        self.log = log
        self.alert = alert
        self.held: dict[str, int] = {}  # url -> tree size the witness holds (as far as we know)
        self.status: dict[str, dict[str, Any]] = {c.url: {"ok": None} for c in self.clients}

    def snapshot(self) -> dict[str, Any]:
        return {"witnesses": self.status,
                "witnesses_ok": all(s.get("ok") is not False for s in self.status.values())}

    async def push(self) -> None:
        for client in self.clients:
            await self._push_one(client)

    async def _push_one(self, client: WitnessClient) -> None:
        signed = self.writer.durable_checkpoint
        if signed is None or signed.checkpoint.size <= self.held.get(client.url, -1):
            return
        size = signed.checkpoint.size
        for _ in range(2):  # a 409 teaches the size: one retry with the right proof
            old = max(self.held.get(client.url, 0), 0)
            if old > size:
                await self._fail(client, f"rollback: the witness holds {old} records, the log "
                                 f"has sealed {size}", kind="audit_witness_rollback")
                return
            proof = self.writer.tree.consistency_proof(old, size)
            try:
                res = await asyncio.to_thread(client.add_checkpoint, old, proof, signed.note)
            except OSError as exc:
                await self._fail(client, f"unreachable ({exc})")
                return
            if res.status == 200:
                self.held[client.url] = size
                self.status[client.url] = {"ok": True, "size": size, "at": time.time()}
                return
            if res.status == 409 and res.size is not None and res.size != old:
                self.held[client.url] = res.size
                continue
            await self._fail(client, _describe(res))
            return

    async def _fail(self, client: WitnessClient, error: str,
                    kind: str = "audit_witness_failed") -> None:
        was_ok = self.status[client.url].get("ok") is not False
        self.status[client.url] = {"ok": False, "error": error, "at": time.time()}
        self.log.error("audit: witness push failed; retrying", witness=client.url, error=error)
        if was_ok and self.alert is not None:
            try:
                await self.alert({"kind": kind, "witness": client.url, "error": error})
            except Exception as exc:  # an alert that cannot be published is logged, not fatal
                self.log.warning("audit: witness alert not published", error=str(exc))


def _describe(res: PushResult) -> str:
    if res.status == 409:
        return f"conflict: the witness holds another tree of size {res.size} (fork?)"
    return f"HTTP {res.status}: {res.error}"
