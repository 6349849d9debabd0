"""HEARTBEAT: the one builder (runtime, proxy, background publisher) and the runtime's beat.

Every heartbeat names the service, its pid, host, version, bus epoch and uptime; each sender adds
its own fields (the runtime: handler stats, bus stats, the highs of its sequence numbers, whatever
middleware and the service report). The runtime beats from its handler loop, between events: a
stuck handler stops the beats, which is how the health monitor tells HUNG from busy.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from hope import __version__
from hope.envelope import Envelope, EventType, new_event
from hope.middleware import Middleware, Runtime

_HOST = socket.gethostname()


def heartbeat_event(service: str, epoch: str, started: float, **fields: Any) -> Envelope:
    """A HEARTBEAT from ``service``; ``started`` is its ``time.monotonic()`` at start."""
    payload: dict[str, Any] = {
        "service": service, "pid": os.getpid(), "host": _HOST, "version": __version__,
        "epoch": epoch, "uptime_s": round(time.monotonic() - started, 3), **fields}
    return new_event(EventType.HEARTBEAT, payload, source=service)


class Heartbeat(Middleware):
    """The runtime's periodic beat: runtime and bus figures plus every middleware's fields and
    the service's own (``Service.heartbeat``)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = 0.0
        self._rt: Runtime | None = None

    def bind(self, runtime: Runtime) -> None:
        self._rt = runtime

    def due(self, interval_s: float) -> bool:
        return time.monotonic() - self.last >= interval_s

    async def beat(self) -> None:
        rt = self._rt
        assert rt is not None, "Heartbeat used before bind()"
        self.last = time.monotonic()
        stats = rt.bus.stats()
        fields: dict[str, Any] = {"queue_depth": rt.bus.inbox.qsize(),
                                  "events_out": dict(rt.events_out), "metrics": dict(rt.metrics),
                                  "bus": stats, "pub": stats.get("pub")}
        for source in rt.heartbeat_sources():
            try:
                fields.update(source())
            except Exception as exc:  # one broken field must not stop the beat
                rt.log.warning("heartbeat_extra_failed", error=str(exc))
        try:
            await rt.bus.publish(heartbeat_event(rt.name, rt.bus.epoch, self.started, **fields))
        except Exception as exc:
            rt.log.error("heartbeat_publish_failed", error=str(exc))
