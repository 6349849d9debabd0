"""The one HEARTBEAT builder: the runtime, the proxy and the background publisher use it.

Every heartbeat names the service, its pid, host, version, config hash, bus epoch, uptime and
its wall clock (``wall_ts``: the health monitor compares it with its own, a host clock off
shows); each sender adds
its own fields (the runtime: handler stats, bus stats, the highs of its sequence numbers, what
middleware and the service report; see :mod:`hope.middleware.heartbeat`).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from hope import __version__
from hope.config import Config
from hope.envelope import Envelope, EventType, new_event
from hope.principals import identity

_HOST = socket.gethostname()


def heartbeat_event(service: str, epoch: str, started: float, *, config: Config | None = None,
                    **fields: Any) -> Envelope:
    """A HEARTBEAT from ``service``; ``started`` is its ``time.monotonic()`` at start. With
    ``config``: the host it names (``[hope] host``) and the config hash the cluster compares."""
    payload: dict[str, Any] = {
        "service": service, "pid": os.getpid(), "host": config.host if config else _HOST,
        "version": __version__, "epoch": epoch,
        "uptime_s": round(time.monotonic() - started, 3), "wall_ts": time.time(), **identity()}
    if config is not None:
        payload["config_hash"] = config.shared_hash()
    payload.update(fields)
    return new_event(EventType.HEARTBEAT, payload, source=service)
