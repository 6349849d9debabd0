"""Handler stats and timeouts: each handler call is timed, bounded and counted.

A coroutine handler runs at once (:func:`hope.eager.start`); only one that really waits becomes a
Task and gets the ``[bus] handler_timeout_s`` bound. Count, errors and a latency histogram per
handler go into every heartbeat (``handlers``), so ``/metrics`` shows them.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import Any

from hope import eager
from hope.envelope import Envelope
from hope.handler_stats import HandlerStats

Handler = Callable[[Envelope], Awaitable[None] | None]


def _observed(stats: HandlerStats, t0: float, failure: Exception | None) -> Exception | None:
    """A handler call that started at ``t0`` is over: its latency and outcome counted in
    ``stats``; ``failure`` (None: it succeeded) is the call's answer."""
    stats.observe(time.perf_counter() - t0, ok=failure is None)
    return failure


class HandlerTimer:
    """The runtime's handler runner (not middleware: the dispatcher calls it for every
    handler). ``events_in`` is counted by the dispatcher, per received event."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.stats: dict[str, HandlerStats] = {}
        self.events_in: Counter[str] = Counter()

    def register(self, handler: str) -> HandlerStats:
        return self.stats.setdefault(handler, HandlerStats())

    def call(self, fn: Handler, stats: HandlerStats, env: Envelope
             ) -> Exception | Awaitable[Exception | None] | None:
        """Run ``fn(env)`` as far as it goes without waiting: None when it succeeded, what it
        raised, or an awaitable giving :meth:`invoke`'s answer once it is done."""
        t0 = time.perf_counter()
        try:
            result = fn(env)
            if type(result) is CoroutineType:  # (a type nothing can subclass)
                result = eager.start(result)
            if result is not None and inspect.isawaitable(result):
                return self._wait(result, stats, t0)
        except Exception as exc:
            return _observed(stats, t0, exc)
        return _observed(stats, t0, None)

    async def _wait(self, pending: Awaitable[Any], stats: HandlerStats, t0: float
                    ) -> Exception | None:
        try:
            await asyncio.wait_for(pending, self.timeout_s)
        except Exception as exc:
            return _observed(stats, t0, exc)
        return _observed(stats, t0, None)

    async def invoke(self, fn: Handler, stats: HandlerStats, env: Envelope) -> Exception | None:
        """Run ``fn(env)``; None when it succeeded, else what it raised (TimeoutError when it
        ran out of time)."""
        outcome = self.call(fn, stats, env)
        if outcome is None or isinstance(outcome, Exception):
            return outcome
        return await outcome

    def describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"handler timed out after {self.timeout_s:g}s"
        return f"{type(exc).__name__}: {exc}"

    def heartbeat(self) -> dict[str, Any]:
        return {"handled": sum(s.count for s in self.stats.values()),
                "failed": sum(s.errors for s in self.stats.values()),
                "events_in": dict(self.events_in),
                "handlers": {n: s.as_dict() for n, s in self.stats.items()}}
