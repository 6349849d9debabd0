"""``dlq-retry``: files DEAD_LETTER events durably and sends due retries on ``RETRY.<service>``.

Subscribes DEAD_LETTER (failures), PRICE (the market clock, for staleness), HEARTBEAT (retries go
only to services alive to receive them) and CONTROL.dlq-retry (``retry`` / ``retry_ok``).
"""

from __future__ import annotations

from typing import Any

from hope.dlq.daemon import BadDeadLetter, RetryDaemon
from hope.dlq.store import DlqStore

SERVICE = "dlq-retry"


async def setup(svc: Any) -> None:
    cfg = svc.config.dlq
    store = DlqStore(svc.state.dlq / cfg.db_name)
    # A retry is sent only to a service that beat within a few heartbeat intervals.
    live_after = max(5.0, 5 * svc.config.bus.heartbeat_interval_s)
    daemon = RetryDaemon(store, cfg, clock=svc.clock, market_clock=svc.market_clock,
                         live_after_s=live_after)
    svc.dlq = daemon  # tests and the lead's wiring can reach the daemon
    # We are the dead-letter path: a failure of ours (e.g. the store's disk is full) is retried
    # here with backoff, never sent to ourselves as a DEAD_LETTER that we would have to ignore.
    svc.local_retry = True

    async def publish_all(items: list[tuple[str, dict[str, Any]]], parent: Any = None) -> None:
        for event_type, payload in items:
            await svc.publish(event_type, payload, parent=parent)

    async def on_dead_letter(env: Any) -> None:
        if env.payload.get("service") == svc.name:
            # Our own handler failed: retrying it through ourselves could loop forever.
            svc.log.error("dlq.own_failure", error=env.payload.get("error"))
            return
        try:
            alerts = daemon.on_dead_letter(env.payload, env.event_id)
        except BadDeadLetter as exc:
            daemon.stats["bad"] += 1
            svc.log.warning("dlq.bad_dead_letter", event_id=env.event_id, error=str(exc))
            return
        await publish_all(alerts, env)

    def on_heartbeat(env: Any) -> None:
        name = env.payload.get("service")
        if isinstance(name, str):
            daemon.on_heartbeat(name)

    def on_control(env: Any) -> None:
        try:
            ids = daemon.on_control(env.payload)
        except BadDeadLetter as exc:
            svc.log.warning("dlq.bad_control", event_id=env.event_id, error=str(exc))
            return
        svc.log.info("dlq.control", command=env.payload.get("command"), letters=ids)

    async def tick() -> None:
        daemon.confirm()
        retries, alerts = daemon.due()
        await publish_all(alerts)
        for letter, payload in retries:
            await svc.publish("RETRY", payload)
            daemon.mark_sent(letter)  # after the publish: a crash in between re-sends, not loses

    svc.subscribe("DEAD_LETTER", on_dead_letter, verify_id=True)
    # Subscribing delivers PRICE events; the runtime itself moves svc.market_clock on each one.
    svc.subscribe("PRICE", lambda env: None, name="market_clock")
    svc.subscribe("HEARTBEAT", on_heartbeat)
    svc.subscribe(f"CONTROL.{SERVICE}", on_control, verify_id=True)
    svc.every(cfg.poll_interval_s, tick)
    svc.heartbeat_extras.append(lambda: {"dlq": daemon.depth(), "dlq_stats": dict(daemon.stats)})
    svc.on_stop(store.close)
