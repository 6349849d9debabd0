"""RETRY handling: the retry daemon sends a dead letter back on ``RETRY.<service>``.

Wire message (published by ``dlq-retry``)::

    RETRY.executor  {"service": "executor", "dlq_id": "d1", "handler": "on_decision",
                     "attempt": 2, "event": {<the original envelope>}}

The embedded event is validated in full (the receive path's decode: schema version, types,
payload rules, ``event_id`` recomputed) before any handler sees it; a bad one is refused, counted
(``bad_retries``) and logged. Only the named handler runs, and never once it has succeeded.
On success the sender of the RETRY is told at once, so it need not wait out its silence window::

    CONTROL.dlq-retry  {"service": "dlq-retry", "command": "retry_ok", "dlq_id": "d1"}
"""

from __future__ import annotations

from hope import codec
from hope.bus.consumed import current_handler_name
from hope.control.retry import retry_ok_payload
from hope.envelope import Envelope, EnvelopeError, EventType
from hope.middleware import Middleware, Runtime

HANDLER = "retry"


def embedded_event(retry: Envelope) -> tuple[Envelope, str, int]:
    """(original event, handler name, attempt) of a RETRY; raises ValueError naming the field."""
    p = retry.payload
    if not isinstance(p.get("handler"), str) or not p["handler"]:
        raise ValueError("payload.handler: missing or not a string")
    if not isinstance(p.get("event"), dict):
        raise ValueError("payload.event: missing or not a map")
    try:
        # the receive path's own decode: schema version, types, payload rules, id recomputed
        original = codec.decode(codec.encode_obj(p["event"]), verify_id=True)
        attempt = int(p.get("attempt", 2))
    except EnvelopeError as exc:
        raise ValueError(f"payload.event.{exc.where or 'envelope'}: {exc.reason}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"payload.event: {exc}") from None
    return original, current_handler_name(p["handler"]), attempt


class Retries(Middleware):
    def __init__(self) -> None:
        self._rt: Runtime | None = None
        self.topic = ""

    def bind(self, runtime: Runtime) -> None:
        self._rt = runtime
        self.topic = f"RETRY.{runtime.name}"
        runtime.subscribe(self.topic, self.on_retry, name=HANDLER)

    async def on_retry(self, retry: Envelope) -> None:
        rt = self._rt
        assert rt is not None
        if retry.topic != self.topic:  # RETRY.executor-x is not ours
            return
        try:
            original, handler, attempt = embedded_event(retry)
        except ValueError as exc:
            rt.metrics["bad_retries"] += 1
            rt.log.warning("bad_retry_event", event_id=retry.event_id, error=str(exc))
            return
        if not rt.has_handler(handler):
            rt.metrics["bad_retries"] += 1
            rt.log.warning("retry_for_unknown_handler", handler=handler)
            return
        if await rt.rerun(original, handler, attempt):
            rt.log.info("retry_succeeded", handler=handler, event_id=original.event_id,
                        attempt=attempt)
            await rt.publish(EventType.CONTROL, retry_ok_payload(
                str(retry.payload.get("dlq_id", "")), retry.source), parent=retry)
