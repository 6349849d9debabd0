"""Publishing from a short-lived process (the CLI): one event, then wait for the audit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hope.config import Config
from hope.envelope import Envelope, EventType, new_event


async def publish_once(config: Config, event_type: str | EventType, payload: dict[str, Any], *,
                       source: str = "operator", wait_audit_s: float = 5.0,
                       handshake_timeout_s: float = 3.0) -> tuple[Envelope, bool]:
    """Publish one event from a short-lived process (CLI) and wait until the audit writer's
    watermark covers it. Returns (stamped event, audited?)."""
    from hope.bus.zmq import ZmqBus  # imported late: pyzmq only when publishing
    from hope.principals import OPERATOR

    bus = ZmqBus(source, config, recover=False, journal=False,
                 handshake_timeout_s=handshake_timeout_s, principal=OPERATOR)
    await bus.start()
    try:
        stamped = await bus.publish(new_event(event_type, payload, source=source))
        deadline = time.monotonic() + wait_audit_s
        elog = bus.outbox.epochs[bus.epoch]
        while elog.acked_seq < stamped.seq and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return stamped, elog.acked_seq >= stamped.seq
    finally:
        await bus.stop()
