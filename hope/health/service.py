"""``health-monitor``: the registry, DOWN/HUNG/FATAL judgement with supervisord restarts, and the
HTTP server (``/health``, ``/metrics``, ``/``).

Subscribes HEARTBEAT (registry), HEALTH (the event listener's process states), DECISION and CLOSE
(status page). Publishes HEALTH.<service> on every status change.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from hope.health.http import HealthHttp
from hope.health.metrics import Metrics
from hope.health.monitor import HealthMonitor, Restart
from hope.health.registry import Registry
from hope.health.status_page import StatusBoard
from hope.health.supervisor import SupervisorClient, SupervisorError

SERVICE = "health-monitor"


async def setup(svc: Any) -> None:
    cfg = svc.config.health
    registry = Registry()
    monitor = HealthMonitor(cfg, registry, svc.clock, self_name=svc.name)
    board = StatusBoard(cfg.recent)
    sup = SupervisorClient(cfg.supervisor_socket or svc.state.run / "supervisor.sock",
                           cfg.supervisor_group)
    counts = {"restart_failures": 0, "bad_heartbeats": 0}
    metrics = Metrics(registry, svc.state.root, lambda: {
        "restarts": monitor.restarts_total, "http_requests": http.requests, **counts})
    http = HealthHttp(host=cfg.host, port=cfg.port, max_request_bytes=cfg.max_request_bytes,
                      not_up=monitor.not_up, metrics=metrics.render, warnings=monitor.warnings,
                      page=lambda: board.render(registry, monitor.not_up(), cfg.refresh_s))
    port = await http.start()
    endpoints = {"http": f"http://{cfg.host}:{port}/", "health": f"http://{cfg.host}:{port}/health",
                 "metrics": f"http://{cfg.host}:{port}/metrics"}
    me = registry.ensure(svc.name)
    me.pid, me.host, me.http_port, me.endpoints, me.status = (
        os.getpid(), socket.gethostname(), port, endpoints, "UP")
    svc.heartbeat_extras.append(lambda: {"http_port": port, "endpoints": endpoints})
    svc.health = monitor  # reachable from tests and the lead's wiring
    svc.http_port = port
    svc.log.info("health.http", port=port)
    pending: set[asyncio.Task[None]] = set()
    supervisor_ok = [True]

    async def publish(changes: list[dict[str, Any]]) -> None:
        for payload in changes:
            await svc.publish("HEALTH", payload)

    def write_registry() -> None:
        registry.write(svc.state.registry, {"written_at": svc.clock.time(),
                                            "monitor": {"pid": os.getpid(), "http_port": port}})

    async def on_heartbeat(env: Any) -> None:
        try:
            changes = monitor.on_heartbeat(env.payload)
        except ValueError as exc:
            counts["bad_heartbeats"] += 1
            svc.log.warning("health.bad_heartbeat", event_id=env.event_id, error=str(exc))
            return
        await publish(changes)

    def on_health(env: Any) -> None:
        if env.source != svc.name:
            monitor.on_process_event(env.payload)

    async def do_restart(r: Restart) -> None:
        svc.log.warning("health.restart", service=r.service, mode=r.mode, reason=r.reason)
        try:
            await asyncio.to_thread(sup.start if r.mode == "start" else sup.restart, r.service)
            monitor.restart_done(r.service)
        except SupervisorError as exc:
            counts["restart_failures"] += 1
            svc.log.error("health.restart_failed", service=r.service, error=str(exc))

    async def check() -> None:
        try:
            states: dict[str, dict[str, Any]] | None = await asyncio.to_thread(sup.states)
            if not supervisor_ok[0]:
                svc.log.info("health.supervisor_back")
            supervisor_ok[0] = True
        except SupervisorError as exc:
            if supervisor_ok[0]:  # log the outage once, not every second
                svc.log.warning("health.supervisor_unreachable", error=str(exc))
            supervisor_ok[0] = False
            states = None
        changes, restarts = monitor.check(states)
        await publish(changes)
        for r in restarts:  # a stop waits up to stopwaitsecs: never block the check loop on it
            task = asyncio.create_task(do_restart(r))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.to_thread(write_registry)

    async def stop() -> None:
        await http.stop()
        for task in list(pending):
            task.cancel()

    svc.subscribe("HEARTBEAT", on_heartbeat)
    svc.subscribe("HEALTH", on_health)
    def on_decision(env: Any) -> None:
        board.on_decision(env.payload, svc.clock.time())

    def on_close(env: Any) -> None:
        board.on_close(env.payload, svc.clock.time(), env.event_id)

    svc.subscribe("DECISION", on_decision)
    svc.subscribe("CLOSE", on_close)
    svc.every(cfg.check_interval_s, check)
    svc.on_stop(stop)
    write_registry()
