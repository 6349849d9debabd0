"""The one HEARTBEAT builder: the runtime, the proxy and the background publisher use it.

Every heartbeat names the service, its pid, host, version, bus epoch and uptime; each sender adds
its own fields (the runtime: handler stats, bus stats, the highs of its sequence numbers, what
middleware and the service report; see :mod:`hope.middleware.heartbeat`).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from hope import __version__
from hope.envelope import Envelope, EventType, new_event
from hope.principals import identity

_HOST = socket.gethostname()


def heartbeat_event(service: str, epoch: str, started: float, **fields: Any) -> Envelope:
    """A HEARTBEAT from ``service``; ``started`` is its ``time.monotonic()`` at start."""
    payload: dict[str, Any] = {
        "service": service, "pid": os.getpid(), "host": _HOST, "version": __version__,
        "epoch": epoch, "uptime_s": round(time.monotonic() - started, 3), **identity(),
        **fields}
    return new_event(EventType.HEARTBEAT, payload, source=service)
