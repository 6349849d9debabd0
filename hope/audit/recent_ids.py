"""The audit writer's window of recently audited event ids (bounded memory, by count).

A sequenced event (publisher, epoch, seq) sent again is recognised by its stream cursor
(:mod:`hope.audit.seqbook`), however old. The id window only catches what a cursor cannot:
an event republished under a new (epoch, seq) (the executor republishes an unacknowledged
ORDER/FILL with its original ``event_id`` after a crash, soon after) and unsequenced events
(legacy 1.x events, the writer's own records).
"""

from __future__ import annotations

import heapq
from collections import deque


class RecentIds:
    """The last ``capacity`` ids added, as a set (the oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity: must be >= 1")
        self.capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: str) -> None:
        if event_id in self._ids:
            return
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())


class NewestIds:
    """The ``capacity`` ids with the highest leaf indices among those offered in any order
    (start-up reads the log family by family), for :meth:`into` a :class:`RecentIds`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._heap: list[tuple[int, str]] = []

    def offer(self, leaf: int, event_id: str) -> None:
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, (leaf, event_id))
        elif leaf > self._heap[0][0]:
            heapq.heapreplace(self._heap, (leaf, event_id))

    def into(self, ids: RecentIds) -> None:
        """Add the kept ids oldest first (so the window forgets them in log order); forget them."""
        for _, event_id in sorted(self._heap):
            ids.add(event_id)
        self._heap = []
