"""The runtime's HEARTBEAT (built by :func:`hope.heartbeat.heartbeat_event`): runtime and bus
figures, every middleware's fields and the service's own. The runtime beats from its handler
loop, between events: a stuck handler stops the beats, which is how the health monitor tells
HUNG from busy.
"""

from __future__ import annotations

import time
from typing import Any

from hope.heartbeat import heartbeat_event
from hope.middleware import Runtime


class Heartbeat:
    """The runtime's periodic beat: runtime and bus figures plus every middleware's fields and
    the service's own (``Service.heartbeat``). A collaborator of the handler loop, which
    calls :meth:`due` and :meth:`beat` between events (not middleware)."""

    def __init__(self, runtime: Runtime) -> None:
        self.started = time.monotonic()
        self.last = 0.0
        self._rt = runtime

    def due(self, interval_s: float) -> bool:
        return time.monotonic() - self.last >= interval_s

    async def beat(self) -> None:
        rt = self._rt
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
            await rt.bus.publish(heartbeat_event(rt.name, rt.bus.epoch, self.started,
                                                 config=rt.config, **fields))
        except Exception as exc:
            rt.log.error("heartbeat_publish_failed", error=str(exc))
