"""Pushed updates with ids, for server-sent events and ``Last-Event-ID`` catch-up.

Every batch of updates (what one event changed) gets the id ``<epoch>-<n>``; the newest
``replay_items`` batches are kept. A page reconnecting with the id it saw last gets exactly the
batches after it; an id of another process (the dashboard restarted) or one older than what is
kept gets a fresh snapshot instead, so a page never silently misses an update.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from typing import Any


class UpdateLog:
    def __init__(self, keep: int, epoch: str | None = None) -> None:
        self.epoch = epoch or secrets.token_hex(4)
        self.items: deque[tuple[int, str]] = deque(maxlen=keep)  # (n, JSON of the batch)
        self.last = 0
        self._changed = asyncio.Event()

    def event_id(self, n: int | None = None) -> str:
        return f"{self.epoch}-{self.last if n is None else n}"

    def append(self, updates: list[dict[str, Any]]) -> int:
        if not updates:
            return self.last
        self.last += 1
        self.items.append((self.last, json.dumps({"updates": updates}, separators=(",", ":"))))
        self._changed.set()
        self._changed = asyncio.Event()
        return self.last

    def parse(self, last_event_id: str | None) -> int | None:
        """The batch number a page saw last, or None when it must start from a snapshot."""
        if not last_event_id or "-" not in last_event_id:
            return None
        epoch, _, n = last_event_id.rpartition("-")
        if epoch != self.epoch or not n.isdigit() or int(n) > self.last:
            return None
        n_int = int(n)
        oldest = self.items[0][0] if self.items else self.last + 1
        return n_int if n_int >= oldest - 1 else None

    def since(self, n: int) -> list[tuple[int, str]]:
        return [(i, data) for i, data in self.items if i > n]

    async def wait(self, after: int, timeout: float) -> bool:
        """True when a batch after ``after`` exists (at once or within ``timeout``)."""
        if self.last > after:
            return True
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return False
        return self.last > after


def sse(data: str, event_id: str | None = None, event: str | None = None) -> bytes:
    """One server-sent event (``data`` is one line of JSON)."""
    head = ""
    if event_id:
        head += f"id: {event_id}\n"
    if event:
        head += f"event: {event}\n"
    return f"{head}data: {data}\n\n".encode()
