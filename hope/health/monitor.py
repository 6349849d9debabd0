"""Health judgement: UP, DOWN, HUNG, FATAL from heartbeats and supervisord's process states.

- UP: a heartbeat within ``down_after_s`` (and, if ``stall_after_s`` is set, progress on a
  non-empty queue).
- HUNG: no heartbeat for ``down_after_s`` while supervisord says the process is RUNNING (heartbeats
  come from the handler loop, so a blocked loop stops them while the pid lives), or stalled
  progress. Restarted (stop + start) within the restart budget.
- FATAL: supervisord gave up. Reported, and started again after ``fatal_restart_delay_s`` if the
  budget allows.
- DOWN: no heartbeat and the process is not running (exited, backoff, stopped) or supervisord is
  unreachable; supervisord's own autorestart handles those.

Silence counts only while the monitor hears the bus (:mod:`hope.health.hearing`): the spans it
was cut off (its own heartbeat not coming back, and from its start to the first that did) are
taken out. Silences, graces and the restart budget are measured on the monotonic clock (a wall
clock step moves no verdict); wall time is what the registry shows. Cut off, it still judges a proxy
of its own host on silence (the proxy's link is not the network) and its own host's programs by
supervisord's states (which need no bus), and /health answers 503 once the outage has lasted
``down_after_s``: a monitor that hears nothing cannot vouch for anything.

Pure logic: the caller gathers supervisord states and performs the :class:`Restart` actions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hope.clock import WallClock
from hope.health.config import HealthConfig
from hope.health.hearing import GAP_BEATS, BusHearing
from hope.health.registry import Registry, ServiceEntry


@dataclass(frozen=True)
class Restart:
    service: str
    mode: str      # "restart" (stop, then start) or "start" (from FATAL)
    reason: str


class RestartBudget:
    """At most ``limit`` restarts per service in any ``window_s``: a crash loop is not fed."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._at: dict[str, deque[float]] = {}

    def allows(self, service: str, now: float) -> bool:
        times = self._at.setdefault(service, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return len(times) < self.limit

    def spend(self, service: str, now: float) -> None:
        self._at.setdefault(service, deque()).append(now)


PROXY = "proxy"


class HealthMonitor:
    def __init__(self, cfg: HealthConfig, registry: Registry, clock: WallClock,
                 self_name: str = "health-monitor", host: str = "",
                 beat_interval_s: float = 1.0) -> None:
        """``beat_interval_s``: how often the monitor's own heartbeat goes out ([bus]
        heartbeat_interval_s), for the default of ``[health] link_gap_s``."""
        self.cfg = cfg
        # On several hosts each host has its own monitor: it judges every service it hears but
        # restarts only its own host's, through its own supervisord.
        self.host = host
        self.registry = registry
        self.clock = clock
        self.self_name = self_name
        self.started = clock.monotonic()
        self.hearing = BusHearing(cfg.link_gap_s or GAP_BEATS * beat_interval_s, self.started)
        # A service beats up to one interval before our own last echo marks an outage's start:
        # that much more is allowed when its silence spans an outage.
        self.beat_interval_s = beat_interval_s
        self.budget = RestartBudget(cfg.restart_budget, cfg.restart_window_s)
        # monotonic: when each service's latest beat arrived, was restarted, turned FATAL
        self._heard_at: dict[str, float] = {}
        self._progress_at: dict[str, float] = {}   # monotonic: its last beat with progress
        self._restarted_at: dict[str, float] = {}
        self._fatal_since: dict[str, float] = {}
        self._budget_reported: set[str] = set()
        self._bus_quiet_until = 0.0
        self.restarts_total = 0
        for name in cfg.required:
            registry.ensure(name)

    # --- inputs ----------------------------------------------------------------------------

    def on_heartbeat(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Record a beat; returns HEALTH payloads for a service that just came (back) UP."""
        now, mono = self.clock.time(), self.clock.monotonic()
        before = self.registry.entries.get(str(payload.get("service")))
        stamp = before.last_progress_at if before is not None else None  # wall, registry
        entry = self.registry.observe(payload, now)
        self._heard_at[entry.service] = mono
        if entry.last_progress_at != stamp or entry.service not in self._progress_at:
            self._progress_at[entry.service] = mono
        self._fatal_since.pop(entry.service, None)
        self._restarted_at.pop(entry.service, None)  # it beats again: grace over
        if entry.service == self.self_name:
            self.hearing.echo(mono)
            return self._set(entry, "UP", "")
        status, detail = self._fresh_status(entry, mono)
        return self._set(entry, status, detail)

    def on_process_event(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A HEALTH event from the supervisord event listener (EXITED, BACKOFF, FATAL)."""
        name = payload.get("service")
        status = payload.get("status")
        if not isinstance(name, str) or status not in ("DOWN", "FATAL"):
            return []
        entry = self.registry.ensure(name)
        if status == "FATAL":
            self._fatal_since.setdefault(name, self.clock.monotonic())
        # Already on the bus from the listener: update our view without publishing it again.
        entry.status = str(status)
        entry.detail = str(payload.get("detail", ""))
        return []

    # --- periodic --------------------------------------------------------------------------

    def check(self, states: Mapping[str, Any] | None
              ) -> tuple[list[dict[str, Any]], list[Restart]]:
        """Judge every known service. ``states``: supervisord's view by service name, each a
        state name or ``{"state", "pid", "start"}`` (SupervisorClient.states()), or None when
        supervisord cannot be asked (then nothing is restarted). Returns HEALTH payloads for
        status changes and the restarts to perform."""
        now, mono = self.clock.time(), self.clock.monotonic()
        changes: list[dict[str, Any]] = []
        restarts: list[Restart] = []
        bus_quiet = self._bus_quiet(mono)
        deaf = self.hearing.deaf(mono)
        for name, entry in sorted(self.registry.entries.items()):
            if name == self.self_name:
                continue
            info = _proc(states.get(name)) if states is not None else None
            if (deaf or (bus_quiet and not is_proxy(name))) \
                    and not self._judged_while_deaf(entry, info):
                continue  # cut off from the bus ourselves: their silence says nothing
            restarted = self._restarted_at.get(name)
            if restarted is not None and mono - restarted < self.cfg.restart_grace_s:
                continue  # give the restarted process time to come up and beat
            status, detail = self._judge(entry, info, now, mono)
            changes += self._set(entry, status, detail)
            if states is None or status not in ("HUNG", "FATAL") or not self.local(entry):
                continue
            if status == "FATAL":
                since = self._fatal_since.setdefault(name, mono)
                if mono - since < self.cfg.fatal_restart_delay_s:
                    continue
            if not self.budget.allows(name, mono):
                if name not in self._budget_reported:
                    self._budget_reported.add(name)
                    changes.append(self._payload(entry, status, f"{detail}; restart budget of "
                                                 f"{self.cfg.restart_budget} per "
                                                 f"{self.cfg.restart_window_s:g}s exhausted"))
                continue
            self._budget_reported.discard(name)
            self.budget.spend(name, mono)
            self._restarted_at[name] = mono
            self._fatal_since.pop(name, None)
            entry.restarts += 1
            self.restarts_total += 1
            restarts.append(Restart(name, "start" if status == "FATAL" else "restart", detail))
        return changes, restarts

    def _bus_quiet(self, mono: float) -> bool:
        """Heartbeats travel through the proxies: while every proxy that ever beat is silent
        (and for ``restart_grace_s`` after one is back) a missing beat says nothing about the
        other services. One proxy of several silent is not: every service is linked to each
        (``[bus] proxy_hosts``), so their beats still come through the others."""
        heard = [self._heard_at[n] for n in self._heard_at if is_proxy(n)]
        if heard and all(mono - at > self.cfg.down_after_s for at in heard):
            self._bus_quiet_until = mono + self.cfg.restart_grace_s
        return mono < self._bus_quiet_until

    def _judged_while_deaf(self, entry: ServiceEntry, info: dict[str, Any] | None) -> bool:
        """Cut off, a service is judged only if the verdict needs no bus: a proxy of this host
        (on its silence), or a program of this host supervisord says is not running."""
        if not self.local(entry):
            return False
        return is_proxy(entry.service) or _stopped(info)

    def local(self, entry: ServiceEntry) -> bool:
        """A service of this monitor's host (or of an unknown one: a single host)."""
        return not self.host or not entry.host or entry.host == self.host

    def restart_done(self, name: str) -> None:
        """A restart call returned (stop may wait out stopwaitsecs): the grace counts from now,
        so a slow stop under load does not look like a second hang."""
        self._restarted_at[name] = self.clock.monotonic()

    def not_up(self) -> dict[str, dict[str, str]]:
        """Required services that are not UP, with their status and detail (for /health)."""
        out = {}
        for name in self.cfg.required:
            entry = self.registry.get(name)
            if entry is None or entry.status != "UP":
                out[name] = {"status": entry.status if entry else "UNKNOWN",
                             "detail": entry.detail if entry else "never seen"}
        mono = self.clock.monotonic()
        if self.hearing.deaf_for(mono) > self.cfg.down_after_s:
            out[self.self_name] = {"status": "CUT_OFF", "detail": self.hearing.describe(mono)}
        return out

    def warnings(self) -> list[str]:
        """Trouble that stops nothing but /health reports: the audit writer's witness pushes
        failing (its heartbeat's ``witnesses_ok``); a service whose bus does not authenticate
        events (``[bus] authenticate = false``, the bench's baseline only)."""
        mono = self.clock.monotonic()
        out = [f"{self.self_name}: {self.hearing.describe(mono)}"] \
            if self.hearing.link_out(mono) else []
        for name, entry in sorted(self.registry.entries.items()):
            if (entry.progress.get("bus") or {}).get("authenticated") is False:
                out.append(f"{name}: events NOT authenticated ([bus] authenticate = false)")
            if entry.progress.get("witnesses_ok") is False:
                failing = {url: s.get("error", "?") for url, s in
                           (entry.progress.get("witnesses") or {}).items()
                           if isinstance(s, dict) and s.get("ok") is False}
                out.append(f"{name}: witness push failing: " +
                           "; ".join(f"{u}: {e}" for u, e in sorted(failing.items())))
        return out

    # --- helpers ---------------------------------------------------------------------------

    def _fresh_status(self, entry: ServiceEntry, mono: float) -> tuple[str, str]:
        """UP, or HUNG when events wait and nothing was handled for ``stall_after_s``
        (monotonic: a wall clock step makes no stall)."""
        depth = entry.progress.get("queue_depth")
        stalled = mono - self._progress_at.get(entry.service, mono)
        if (self.cfg.stall_after_s > 0 and isinstance(depth, int) and depth > 0
                and stalled > self.cfg.stall_after_s):
            return "HUNG", f"no progress for {stalled:.0f}s with {depth} events queued"
        return "UP", ""

    def _judge(self, entry: ServiceEntry, info: dict[str, Any] | None,
               now: float, mono: float) -> tuple[str, str]:
        """``now`` the wall clock (supervisord's start times are wall), ``mono`` the monotonic
        one every silence is measured on."""
        state = info["state"] if info else None
        since = self._heard_at.get(entry.service, self.started)
        limit = self.cfg.down_after_s
        live = info is not None and state in ("RUNNING", "STARTING") and info["pid"] > 0
        if live and info["start"] and (entry.pid != info["pid"] or entry.last_beat < info["start"]):
            # No beat yet from the process supervisord runs now: measure from its start and
            # allow for setup before the first beat, so a slow start is not "hung".
            since = max(since, mono - (now - info["start"]))
            limit = max(limit, self.cfg.startup_grace_s)
        # A local proxy's beat needs no network: its silence counts in full. Anyone else's
        # only while we could hear the bus.
        span = mono - since
        silent = span if is_proxy(entry.service) and self.local(entry) \
            else self.hearing.heard(since, mono)
        if silent < span:
            limit += self.beat_interval_s
        if silent <= limit and not (_stopped(info) and self.hearing.deaf(mono)):
            if entry.last_beat and (not live or entry.pid == info["pid"]):
                return self._fresh_status(entry, mono)
            return entry.status, entry.detail  # not seen yet, still within the first window
        if state == "FATAL" or (state is None and entry.service in self._fatal_since):
            return "FATAL", "supervisord gave up starting it (FATAL)"
        heard = f" heard ({span:.0f}s in all, the bus link out meanwhile)" if span - silent >= 1 \
            else ""
        if not entry.last_beat:
            what = f"no heartbeat in {silent:.0f}s{heard} since the monitor started"
        else:
            what = f"no heartbeat for {silent:.0f}s{heard}"
        if state == "RUNNING":
            return "HUNG", f"{what} while the process is RUNNING"
        if state is None:
            return "DOWN", what
        return "DOWN", f"{what}; supervisord: {state}"

    def _set(self, entry: ServiceEntry, status: str, detail: str) -> list[dict[str, Any]]:
        if status == entry.status:
            entry.detail = detail
            return []
        previous = entry.status
        entry.status, entry.detail = status, detail
        payload = self._payload(entry, status, detail)
        payload["previous"] = previous
        return [payload]

    @staticmethod
    def _payload(entry: ServiceEntry, status: str, detail: str) -> dict[str, Any]:
        return {"service": entry.service, "status": status, "detail": detail,
                "pid": entry.pid, "restarts": entry.restarts}


def _stopped(info: dict[str, Any] | None) -> bool:
    """Supervisord says it is not running (EXITED, BACKOFF, STOPPED, FATAL, ...)."""
    return info is not None and info["state"] not in ("RUNNING", "STARTING")


def is_proxy(name: str) -> bool:
    """The program ``proxy`` or an instance of it (``proxy-2``)."""
    head, _, n = name.partition("-")
    return head == PROXY and (not n or n.isdigit())


def _proc(value: Any) -> dict[str, Any] | None:
    """Normalise supervisord's view of one process: a bare state name or the full map."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"state": value, "pid": 0, "start": 0.0}
    return {"state": str(value.get("state", "")), "pid": int(value.get("pid") or 0),
            "start": float(value.get("start") or 0.0)}
