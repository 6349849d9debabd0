"""Dead letters and local retry: a failed handler never kills the loop, and its event is kept.

A failure is published as ``DEAD_LETTER.<service>`` (the event, handler, error, attempt) for the
retry daemon. When that publish fails (disk full), or the service *is* the dead-letter path
(``local_only``: the DLQ daemon, which must not send letters to itself), the event is kept here
and the failed handler re-run in-process with backoff (0.5 s doubling to 30 s), at most
``MAX_LOCAL_RETRIES`` at a time.

Local retries live in memory only, while the event is journaled as consumed: a restart drops
them (the failure stays in the log as ``handler_failed``, with the event id). For the DLQ daemon
that means a DEAD_LETTER it could not file and did not file on any retry before the restart is
gone; the failing service's own log still names it.
"""

from __future__ import annotations

import time
from typing import Any

from hope.envelope import Envelope, EventType
from hope.middleware import Middleware, Runtime

MAX_LOCAL_RETRIES = 10_000


def dead_letter_payload(service: str, handler: str, env: Envelope, exc: BaseException,
                        error: str, attempt: int) -> dict[str, Any]:
    """The DEAD_LETTER payload (also used by deferred handlers that fail later, the notifier)."""
    return {"service": service, "handler": handler, "error": error[:2000],
            "error_type": type(exc).__name__, "attempt": attempt, "topic": env.topic,
            "event": env.to_dict()}


class LocalRetry:
    __slots__ = ("env", "handler", "attempt", "at")

    def __init__(self, env: Envelope, handler: str, attempt: int, at: float) -> None:
        self.env, self.handler, self.attempt, self.at = env, handler, attempt, at


class DeadLetters(Middleware):
    def __init__(self, local_only: bool = False) -> None:
        self.local_only = local_only
        self.pending: list[LocalRetry] = []
        self._rt: Runtime | None = None

    def bind(self, runtime: Runtime) -> None:
        self._rt = runtime
        runtime.every(0.5, self.run_due)

    async def failed(self, env: Envelope, handler: str, exc: BaseException, error: str,
                     attempt: int) -> None:
        rt = self._rt
        assert rt is not None
        if not self.local_only:
            try:
                await rt.publish(EventType.DEAD_LETTER, dead_letter_payload(
                    rt.name, handler, env, exc, error, attempt), parent=env)
                return
            except Exception as pub_exc:  # even the dead-letter path must not kill the loop
                rt.log.error("dead_letter_publish_failed", error=str(pub_exc),
                             event_id=env.event_id)
        self.keep(env, handler, attempt)

    def keep(self, env: Envelope, handler: str, attempt: int) -> None:
        rt = self._rt
        assert rt is not None
        if len(self.pending) >= MAX_LOCAL_RETRIES:
            rt.metrics["local_retry_dropped"] += 1
            rt.log.critical("local_retry_full", event_id=env.event_id, handler=handler,
                            kept=len(self.pending))
            return
        delay = min(0.5 * 2 ** min(attempt - 1, 6), 30.0)
        self.pending.append(LocalRetry(env, handler, attempt + 1, time.monotonic() + delay))
        rt.metrics["local_retries_pending"] = len(self.pending)

    async def run_due(self) -> None:
        """Re-run every kept failure whose backoff has passed."""
        rt = self._rt
        assert rt is not None
        now = time.monotonic()
        for item in [r for r in self.pending if r.at <= now]:
            self.pending.remove(item)
            await rt.rerun(item.env, item.handler, item.attempt)
        rt.metrics["local_retries_pending"] = len(self.pending)
