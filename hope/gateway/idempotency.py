"""Idempotent signal submission: a resubmitted request gets the first answer, not a second SIGNAL.

The key is the ``Idempotency-Key`` header, else the body's ``signal_id``; keys are per token.
Within ``window_s`` (wall clock) a request with a known key and the same body gets the stored
answer again (``Idempotent-Replayed: true``); the same key with another body is refused (422),
and one still being published is answered 409 (the client retries). Bounded: the oldest keys go
first past ``max_keys``. Follows the IETF ``Idempotency-Key`` header draft.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hope.clock import WallClock


@dataclass
class Entry:
    body_hash: str
    at: float
    answer: tuple[int, dict[str, Any]] | None = None   # None while being published


class IdempotencyCache:
    def __init__(self, window_s: float, clock: WallClock, max_keys: int = 100_000) -> None:
        self.window_s, self.clock, self.max_keys = window_s, clock, max_keys
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()

    @staticmethod
    def body_hash(raw: bytes) -> str:
        return hashlib.sha256(raw).hexdigest()

    def _expire(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.at <= self.window_s and len(self._entries) <= self.max_keys:
                return
            del self._entries[key]

    def begin(self, key: tuple[str, str], body_hash: str) -> tuple[str, Any]:
        """("new", None): go ahead, then ``finish``; ("replay", (status, body)); ("conflict",
        reason) for another body under the same key; ("pending", None) while the first runs."""
        now = self.clock.time()
        self._expire(now)
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = Entry(body_hash, now)
            return "new", None
        if entry.body_hash != body_hash:
            return "conflict", "this key was used with a different body"
        if entry.answer is None:
            return "pending", None
        return "replay", entry.answer

    def finish(self, key: tuple[str, str], status: int, body: dict[str, Any]) -> None:
        """Store the answer of an accepted request (a refused one is forgotten: retry freely)."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if status >= 400:
            del self._entries[key]
        else:
            entry.answer = (status, body)

    def __len__(self) -> int:
        return len(self._entries)
