"""The gateway's log reads, bounded: one scan of the audit log at a time, results cached briefly.

``/v1/report`` and ``/v1/events/{id}`` read the audit log; without bounds every request of any
read-token holder would cost a full scan (memory and CPU). Here concurrent requests for the same
thing share one scan, a result is reused for ``ttl_s`` (wall clock), at most ``max_items`` are
kept, and scans run one at a time in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from hope.clock import WallClock

MAX_PAGE = 500


class ScanCache:
    def __init__(self, ttl_s: float, clock: WallClock, max_items: int = 64) -> None:
        self.ttl_s, self.clock, self.max_items = ttl_s, clock, max_items
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._one_scan = asyncio.Lock()
        self.scans = 0
        self.hits = 0

    async def get(self, key: str, scan: Callable[[], Any]) -> Any:
        """The cached value of ``key``, else ``scan()`` run in a thread (shared by all waiting)."""
        now = self.clock.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] <= self.ttl_s:
            self.hits += 1
            return hit[1]
        if key in self._inflight:
            self.hits += 1
            return await asyncio.shield(self._inflight[key])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            async with self._one_scan:
                self.scans += 1
                value = await asyncio.to_thread(scan)
            self._items[key] = (self.clock.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._inflight[key]


def page_params(query: Any, default: int = 100) -> tuple[int, int]:
    """(offset, limit) from ``?offset=&limit=``; ValueError naming the bad parameter."""
    out = []
    for name, fallback, high in (("offset", 0, 10**9), ("limit", default, MAX_PAGE)):
        text = query.get(name)
        try:
            value = fallback if text is None else int(text)
        except ValueError:
            raise ValueError(f"{name}: not an integer") from None
        if not (0 if name == "offset" else 1) <= value <= high:
            raise ValueError(f"{name}: must be in {0 if name == 'offset' else 1}..{high}")
        out.append(value)
    return out[0], out[1]
