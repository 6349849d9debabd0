"""``health-monitor``: the registry, DOWN/HUNG/FATAL judgement with supervisord restarts, and the
HTTP server (``/health``, ``/metrics``, ``/``).

Subscribes HEARTBEAT (registry), HEALTH (the event listener's process states), DECISION and CLOSE
(status page). Publishes HEALTH.<service> on every status change.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from hope import privsep
from hope.envelope import Envelope
from hope.health.bus_auth import HandshakeAlerts
from hope.health.cluster_view import ClusterView
from hope.health.http import HealthHttp
from hope.health.metrics import Metrics
from hope.health.monitor import HealthMonitor, Restart
from hope.health.registry import Registry
from hope.health.status_page import StatusBoard
from hope.health.supervisor import SupervisorClient, SupervisorError
from hope.runtime import Runtime
from hope.service import Service, every, subscribe

SERVICE = "health-monitor"


class HealthService(Service):
    name = SERVICE

    def __init__(self, runtime: Runtime, *, monitor: HealthMonitor, supervisor: SupervisorClient,
                 board: StatusBoard) -> None:
        super().__init__(runtime)
        self.cfg = runtime.config.health
        self.monitor, self.registry, self.supervisor, self.board = (
            monitor, monitor.registry, supervisor, board)
        self.counts = {"restart_failures": 0, "bad_heartbeats": 0}
        self.view = ClusterView(self.cfg.max_clock_skew_s, self.cfg.down_after_s)
        metrics = Metrics(self.registry, self.state.root, lambda: {
            "restarts": monitor.restarts_total, "http_requests": self.http.requests,
            "bus_link_outages": monitor.hearing.outages, **self.counts})
        self.http = HealthHttp(host=self.cfg.host, port=self.cfg.port,
                               max_request_bytes=self.cfg.max_request_bytes,
                               not_up=monitor.not_up, metrics=metrics.render, page=self.page,
                               warnings=self.warnings, cluster=self.cluster,
                               extra_hosts=tuple(self.cfg.allowed_hosts),
                               instance=privsep.mode(runtime.config))
        self.port = 0
        self.endpoints: dict[str, str] = {}
        self.pending: set[asyncio.Task[None]] = set()
        self.supervisor_ok = True
        self.deaf = False  # cut off from the bus (hope/health/hearing.py), as last logged
        self.handshake_alerts = HandshakeAlerts(self.cfg.auth_alert_interval_s)

    @classmethod
    def create(cls, runtime: Runtime, *, supervisor: SupervisorClient | None = None
               ) -> HealthService:
        cfg = runtime.config.health
        monitor = HealthMonitor(cfg, Registry(), runtime.clock, self_name=runtime.name,
                                host=runtime.config.host,
                                beat_interval_s=runtime.config.bus.heartbeat_interval_s)
        supervisor = supervisor or SupervisorClient(
            cfg.supervisor_socket or runtime.state.run / "supervisor.sock", cfg.supervisor_group)
        return cls(runtime, monitor=monitor, supervisor=supervisor, board=StatusBoard(cfg.recent))

    def page(self) -> str:
        return self.board.render(self.registry, self.monitor.not_up(), self.cfg.refresh_s)

    async def setup(self) -> None:
        self.port = port = await self.http.start()
        base = f"http://{self.cfg.host}:{port}"
        self.endpoints = {"http": f"{base}/", "health": f"{base}/health",
                          "metrics": f"{base}/metrics"}
        me = self.registry.ensure(self.runtime.name)
        me.pid, me.host, me.http_port, me.endpoints, me.status = (
            os.getpid(), self.config.host, port, self.endpoints, "UP")
        self.log.info("health.http", port=port)
        self.write_registry()

    def write_registry(self) -> None:
        now = self.clock.time()
        self.registry.write(self.state.registry, {
            "written_at": now, "hosts": self.view.hosts(self.registry, now),
            "monitor": {"pid": os.getpid(), "http_port": self.port, "host": self.config.host},
            "instance": privsep.mode(self.runtime.config)})

    def cluster(self) -> dict[str, Any]:
        """For /health: every service with its host and status, and the hosts."""
        now = self.clock.time()
        return {"services": {n: {"host": e.host, "status": e.status}
                             for n, e in sorted(self.registry.entries.items())},
                "hosts": {h: {"status": v["status"], "services": v["services"]}
                          for h, v in self.view.hosts(self.registry, now).items()}}

    def warnings(self) -> list[str]:
        """The monitor's, the cluster's disagreements, and hosts gone silent."""
        now = self.clock.time()
        silent = [f"host {h}: no heartbeat from {', '.join(v['services'])} for "
                  f"{now - v['last_beat']:.0f}s" for h, v in
                  sorted(self.view.hosts(self.registry, now).items()) if v["status"] == "SILENT"]
        return self.monitor.warnings() + self.view.warnings() + silent

    async def publish_changes(self, changes: list[dict[str, Any]]) -> None:
        for payload in changes:
            await self.publish("HEALTH", payload)

    @subscribe("HEARTBEAT")
    async def on_heartbeat(self, env: Envelope) -> None:
        self.view.on_heartbeat(env.payload, self.clock.time())
        try:
            changes = self.monitor.on_heartbeat(env.payload)
        except ValueError as exc:
            self.counts["bad_heartbeats"] += 1
            self.log.warning("health.bad_heartbeat", event_id=env.event_id, error=str(exc))
            return
        await self.publish_changes(changes)
        if env.payload.get("service") == "proxy":
            alert = self.handshake_alerts.observe(env.payload, self.clock.monotonic())
            if alert:
                self.log.warning("health.bus_handshake_failed", **alert)
                await self.publish("ALERT", alert)

    @subscribe("HEALTH")
    def on_health(self, env: Envelope) -> None:
        if env.source != self.runtime.name:
            self.monitor.on_process_event(env.payload)

    @subscribe("DECISION")
    def on_decision(self, env: Envelope) -> None:
        self.board.on_decision(env.payload, self.clock.time())

    @subscribe("CLOSE")
    def on_close(self, env: Envelope) -> None:
        self.board.on_close(env.payload, self.clock.time(), env.event_id)

    @every(lambda self: self.cfg.check_interval_s)
    async def check(self) -> None:
        changes, restarts = self.monitor.check(await self.supervisor_states())
        self.note_hearing()
        await self.publish_changes(changes)
        for alert in self.view.alerts(self.registry, self.clock.time()):
            self.log.warning("health.cluster_alert", **alert)
            await self.publish("ALERT", {"service": self.runtime.name, **alert})
        for r in restarts:  # a stop waits up to stopwaitsecs: never block the check loop on it
            task = asyncio.create_task(self.restart(r))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
        await asyncio.to_thread(self.write_registry)

    def note_hearing(self) -> None:
        """Log when the monitor's own bus link goes out and when it is back (once each)."""
        hearing, now = self.monitor.hearing, self.clock.monotonic()
        deaf = hearing.link_out(now)
        if deaf != self.deaf:
            self.deaf = deaf
            if deaf:
                self.log.warning("health.bus_link_out", detail=hearing.describe(now))
            else:
                self.log.info("health.bus_link_back", outages=hearing.outages)

    async def supervisor_states(self) -> dict[str, dict[str, Any]] | None:
        try:
            states = await asyncio.to_thread(self.supervisor.states)
        except SupervisorError as exc:
            if self.supervisor_ok:  # log the outage once, not every second
                self.log.warning("health.supervisor_unreachable", error=str(exc))
            self.supervisor_ok = False
            return None
        if not self.supervisor_ok:
            self.log.info("health.supervisor_back")
        self.supervisor_ok = True
        return states

    async def restart(self, r: Restart) -> None:
        self.log.warning("health.restart", service=r.service, mode=r.mode, reason=r.reason)
        sup = self.supervisor
        try:
            await asyncio.to_thread(sup.start if r.mode == "start" else sup.restart, r.service)
            self.monitor.restart_done(r.service)
        except SupervisorError as exc:
            self.counts["restart_failures"] += 1
            self.log.error("health.restart_failed", service=r.service, error=str(exc))

    async def stop(self) -> None:
        await self.http.stop()
        self.kill_restarts()

    def kill_restarts(self) -> None:
        for task in list(self.pending):
            task.cancel()

    def kill(self) -> None:
        self.kill_restarts()

    def heartbeat(self) -> dict[str, Any]:
        return {"http_port": self.port, "endpoints": self.endpoints,
                "refusals": {"http_host_not_allowed": self.http.refused_hosts}}
