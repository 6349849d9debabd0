"""The ``[health]`` config section: the health monitor, its HTTP server and restart budget."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section


@register_section("health")
@dataclass
class HealthConfig:
    host: str = "127.0.0.1"           # never 0.0.0.0 unless you mean it
    port: int = 8470                  # 0: any free port (tests); the bound port goes to the registry
    # Host header names answered besides the loopback names and `host` (others get 421)
    allowed_hosts: list[str] = field(default_factory=list)
    # Services that must be UP for /health to answer 200 (the monitor itself is implied).
    required: list[str] = field(default_factory=lambda: [
        "audit-writer", "scanner", "decision-engine", "executor", "dlq-retry"])
    down_after_s: float = 5.0         # no heartbeat for this long: DOWN (or HUNG if still running)
    # Heartbeats still arrive but report queue_depth > 0 and no new handled events for this long:
    # HUNG as well (0 disables; a blocked handler loop normally stops the beats instead).
    stall_after_s: float = 0.0
    # A process that has not beaten since supervisord (re)started it gets this long before it
    # counts as hung: setup (reconciling with an exchange, replaying) happens before the first beat.
    startup_grace_s: float = 30.0
    check_interval_s: float = 1.0
    # The monitor's own heartbeat not back through the bus for this long: its bus link is out,
    # and silence meanwhile does not count (0: 2.5 x [bus] heartbeat_interval_s)
    link_gap_s: float = 0.0
    restart_budget: int = 3           # at most this many restarts of one service ...
    restart_window_s: float = 600.0   # ... within this window; past it: report, do not restart
    restart_grace_s: float = 20.0     # after a restart, wait this long for beats before judging
    fatal_restart_delay_s: float = 30.0  # FATAL (supervisord gave up): restart after this delay
    supervisor_socket: str = ""       # empty: <state>/run/supervisor.sock
    supervisor_group: str = "hope"    # programs are <group>:<service>
    max_request_bytes: int = 16384    # bigger requests get 413
    refresh_s: int = 5                # status page auto-refresh
    recent: int = 20                  # decisions/closes kept for the status page
    # A heartbeat whose sender's wall clock is off ours by more than this: ALERT
    # cluster_clock_skew (transit and timestamp checks assume synchronised clocks)
    max_clock_skew_s: float = 2.0
    auth_alert_interval_s: float = 60.0  # at most one ALERT bus_handshake_failed this often

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port: must be 0..65535")
        for name in ("down_after_s", "check_interval_s", "restart_window_s",
                     "auth_alert_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        for name in ("stall_after_s", "restart_grace_s", "fatal_restart_delay_s",
                     "startup_grace_s", "link_gap_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0")
        if self.link_gap_s and self.link_gap_s >= self.down_after_s:
            raise ValueError("link_gap_s: must be < down_after_s (else an outage is judged as "
                             "silence before it is seen)")
        if self.max_clock_skew_s <= 0:
            raise ValueError("max_clock_skew_s: must be > 0")
        if self.restart_budget < 0:
            raise ValueError("restart_budget: must be >= 0")
        if self.max_request_bytes < 1024:
            raise ValueError("max_request_bytes: must be >= 1024")
        if self.refresh_s < 1 or self.recent < 1:
            raise ValueError("refresh_s/recent: must be >= 1")
