"""The runtime's middleware: one module per concern around the dispatcher (as dramatiq's).

A :class:`Middleware` sees a :class:`hope.runtime.Runtime` once, at :meth:`Middleware.bind`
(where it may subscribe handlers, add periodic tasks and heartbeat fields), and then only through
the hooks below. The dispatcher precomputes, per topic, which ``before`` hooks apply (``wants``),
so an event pays only for the concerns that concern it, and no hook allocates per event on the
common path.

| hook | called | returns |
|---|---|---|
| ``wants(topic)`` | once per topic, when its route is built | run ``before`` for this topic? |
| ``before(env)`` | per event, before any handler | None (go on) or an awaitable of bool (False: no handler sees it) |
| ``skip(handler, event_id)`` | per handler and event | True: already done (dedupe) |
| ``after(env, done)`` | per event, after its handlers | None (``done``: the handlers that succeeded) |
| ``failed(env, handler, exc, error, attempt)`` | a handler raised or timed out | awaitable |
| ``retried(env, handler)`` | a handler succeeded outside normal delivery (a retry) | None |
| ``heartbeat()`` | per heartbeat | fields merged into the HEARTBEAT payload |
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from hope.bus.base import Bus
from hope.envelope import Envelope


class Runtime(Protocol):
    """What middleware may use of :class:`hope.runtime.Runtime` (kept apart so that the
    runtime imports its middleware and never the other way round)."""

    name: str
    bus: Bus
    log: Any
    metrics: Counter[str]
    events_out: Counter[str]

    async def publish(self, event_type: str, payload: dict[str, Any], *,
                      parent: Envelope | None = None) -> Envelope: ...

    def subscribe(self, prefix: str, handler: Callable[[Envelope], Any], *,
                  name: str | None = None, verify_id: bool = False) -> None: ...

    def idempotent(self, topic: str) -> bool: ...

    def every(self, interval_s: float, fn: Callable[[], Any]) -> None: ...

    def has_handler(self, name: str) -> bool: ...

    async def rerun(self, env: Envelope, handler: str, attempt: int) -> bool: ...

    def heartbeat_sources(self) -> list[Callable[[], dict[str, Any]]]: ...


class Middleware:
    """Every hook optional; the dispatcher calls only the ones a subclass overrides."""

    def bind(self, runtime: Runtime) -> None:
        """Register subscriptions, periodic tasks; called once, before the bus starts."""

    def wants(self, topic: str) -> bool:
        return False

    def before(self, env: Envelope) -> Awaitable[bool] | None:
        return None

    def skip(self, handler: str, event_id: str) -> bool:
        return False

    def after(self, env: Envelope, done: list[str]) -> None:
        return None

    async def failed(self, env: Envelope, handler: str, exc: BaseException, error: str,
                     attempt: int) -> None:
        return None

    def retried(self, env: Envelope, handler: str) -> None:
        return None

    def heartbeat(self) -> dict[str, Any]:
        return {}


def overrides(mw: Middleware, hook: str) -> bool:
    """Does ``mw`` implement ``hook`` (not just inherit the no-op)?"""
    return getattr(type(mw), hook) is not getattr(Middleware, hook)
