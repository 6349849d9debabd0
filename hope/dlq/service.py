"""``dlq-retry``: files DEAD_LETTER events durably and sends due retries on ``RETRY.<service>``.

Subscribes DEAD_LETTER (failures), HEARTBEAT (retries go only to services alive to receive them;
the scanner's beat also carries the market clock, for staleness) and CONTROL.dlq-retry
(``retry`` / ``retry_ok``). It is the dead-letter path itself: its own failures are retried
in-process (``local_retry``), never sent to itself.
"""

from __future__ import annotations

from typing import Any

from hope.control.retry import SERVICE
from hope.dlq.daemon import BadDeadLetter, RetryDaemon
from hope.dlq.store import DlqStore
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, every, subscribe


class DlqRetryService(Service):
    name = SERVICE
    market_clock_from = "HEARTBEAT"
    local_retry = True

    def __init__(self, runtime: Runtime, *, daemon: RetryDaemon) -> None:
        super().__init__(runtime)
        self.daemon = daemon

    @classmethod
    def create(cls, runtime: Runtime, *, daemon: RetryDaemon | None = None) -> DlqRetryService:
        if daemon is None:
            cfg = runtime.config.dlq
            # A retry is sent only to a service that beat within a few heartbeat intervals.
            live_after = max(5.0, 5 * runtime.config.bus.heartbeat_interval_s)
            daemon = RetryDaemon(DlqStore(runtime.state.dlq / cfg.db_name), cfg,
                                 clock=runtime.clock, market_clock=runtime.market_clock,
                                 live_after_s=live_after)
        return cls(runtime, daemon=daemon)

    @subscribe("DEAD_LETTER", verify_id=True)
    async def on_dead_letter(self, env: Envelope) -> None:
        if env.payload.get("service") == self.runtime.name:
            # Our own handler failed: retrying it through ourselves could loop forever.
            self.log.error("dlq.own_failure", error=env.payload.get("error"))
            return
        try:
            alerts = self.daemon.on_dead_letter(env.payload, env.event_id)
        except BadDeadLetter as exc:
            self.daemon.stats["bad"] += 1
            self.log.warning("dlq.bad_dead_letter", event_id=env.event_id, error=str(exc))
            return
        await self.publish_all(alerts, env)

    @subscribe("HEARTBEAT")
    def on_heartbeat(self, env: Envelope) -> None:
        name = env.payload.get("service")
        if isinstance(name, str):
            self.daemon.on_heartbeat(name)

    @subscribe(f"CONTROL.{SERVICE}", verify_id=True)
    def on_control(self, env: Envelope) -> None:
        try:
            ids = self.daemon.on_control(env.payload)
        except BadDeadLetter as exc:
            self.log.warning("dlq.bad_control", event_id=env.event_id, error=str(exc))
            return
        self.log.info("dlq.control", command=env.payload.get("command"), letters=ids)

    @every(lambda self: self.config.dlq.poll_interval_s)
    async def tick(self) -> None:
        self.daemon.confirm()
        retries, alerts = self.daemon.due()
        await self.publish_all(alerts)
        for letter, payload in retries:
            await self.publish("RETRY", payload)
            self.daemon.mark_sent(letter)  # after the publish: a crash in between re-sends

    async def publish_all(self, items: list[tuple[str, dict[str, Any]]],
                          parent: Envelope | None = None) -> None:
        for event_type, payload in items:
            await self.publish(event_type, payload, parent=parent)

    async def stop(self) -> None:
        self.daemon.store.close()

    def kill(self) -> None:
        try:
            self.daemon.store.close()
        except Exception:  # kill never raises; the store is durable per write
            pass

    def heartbeat(self) -> dict[str, Any]:
        return {"dlq": self.daemon.depth(), "dlq_stats": dict(self.daemon.stats)}
