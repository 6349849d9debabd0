"""The cluster seen from one health monitor: which hosts beat, and what they disagree on.

From every heartbeat (``host``, ``version``, ``config_hash``, ``wall_ts``): a host whose
services all stopped beating is SILENT; services running different versions or config hashes
raise ALERT ``cluster_version_mismatch`` / ``cluster_config_mismatch``; a heartbeat whose
sender's wall clock is off ours by more than ``[health] max_clock_skew_s`` (after allowing
``max_transit_s`` for the trip) raises ``cluster_clock_skew`` for its host (the bus's
timestamp-window checks and every latency figure depend on the clocks); ``bus_proxy_lost`` for
a service that reaches fewer proxies than it is configured for (its heartbeat's ``bus.links``:
a proxy down, or the network between). Each ALERT is raised when the condition starts and once
more when it clears (``cleared: true``). Pure logic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from hope.health.registry import Registry

MAX_TRANSIT_S = 1.0  # a heartbeat older than this on arrival was queued, not skewed


class ClusterView:
    def __init__(self, max_clock_skew_s: float, silent_after_s: float) -> None:
        self.max_skew_s = max_clock_skew_s
        self.silent_after_s = silent_after_s
        self.skew: dict[str, float] = {}      # host: latest measured offset (theirs - ours)
        self._raised: dict[str, dict[str, Any]] = {}  # alert key: its payload

    def on_heartbeat(self, payload: Mapping[str, Any], now: float) -> None:
        wall, host = payload.get("wall_ts"), payload.get("host")
        if isinstance(wall, int | float) and isinstance(host, str) and host:
            offset = float(wall) - now
            if offset > 0 or -offset <= MAX_TRANSIT_S:
                self.skew[host] = round(offset, 3)
            else:  # late: it may have waited in a queue; count only what transit cannot explain
                self.skew[host] = round(offset + MAX_TRANSIT_S, 3)

    def hosts(self, registry: Registry, now: float) -> dict[str, dict[str, Any]]:
        """{host: {services, last_beat, status UP|SILENT, clock_skew_s}} for the registry file,
        ``hope status`` and ``/health``."""
        out: dict[str, dict[str, Any]] = {}
        for entry in registry.entries.values():
            if not entry.host:
                continue
            h = out.setdefault(entry.host, {"services": [], "last_beat": 0.0})
            h["services"].append(entry.service)
            h["last_beat"] = max(h["last_beat"], entry.last_beat)
        for name, h in out.items():
            h["services"].sort()
            silent = now - h["last_beat"] if h["last_beat"] else None
            h["status"] = "SILENT" if silent is None or silent > self.silent_after_s else "UP"
            if name in self.skew:
                h["clock_skew_s"] = self.skew[name]
        return out

    def alerts(self, registry: Registry, now: float) -> list[dict[str, Any]]:
        """ALERT payloads for conditions that started or cleared since the last call."""
        live = {n: e for n, e in registry.entries.items()
                if e.last_beat and now - e.last_beat <= self.silent_after_s}
        current: dict[str, dict[str, Any]] = {}
        for field, kind, key in (("version", "cluster_version_mismatch", "versions"),
                                 ("config_hash", "cluster_config_mismatch", "config_hashes")):
            groups: dict[str, list[str]] = defaultdict(list)
            for name, e in live.items():
                value = e.version if field == "version" else e.progress.get(field)
                if value:
                    groups[str(value)].append(f"{e.host or '?'}/{name}")
            if len(groups) > 1:
                current[kind] = {"kind": kind, key: {v: sorted(s) for v, s in
                                                     sorted(groups.items())}}
        for name, e in sorted(live.items()):
            links = (e.progress.get("bus") or {}).get("links") or {}
            ready, total = links.get("proxies_ready"), links.get("proxies")
            # one proxy lost of several (with one proxy, a lost proxy silences the service)
            if isinstance(ready, int) and isinstance(total, int) and 0 < ready < total:
                current[f"bus_proxy_lost:{name}"] = {
                    "kind": "bus_proxy_lost", "service": name, "host": e.host,
                    "proxies_ready": ready, "proxies": total,
                    "disconnects": links.get("disconnects", 0)}
        for host, offset in sorted(self.skew.items()):
            if abs(offset) > self.max_skew_s:
                current[f"cluster_clock_skew:{host}"] = {
                    "kind": "cluster_clock_skew", "host": host, "offset_s": offset,
                    "max_clock_skew_s": self.max_skew_s}
        out = []
        for key, payload in current.items():
            if key not in self._raised or _differs(self._raised[key], payload):
                out.append(payload)
        for key, payload in self._raised.items():
            if key not in current:
                out.append({**payload, "cleared": True})
        self._raised = current
        return out

    def warnings(self) -> list[str]:
        """What /health lists while it lasts."""
        out = []
        for payload in self._raised.values():
            if payload["kind"] == "bus_proxy_lost":
                out.append(f"{payload['service']} on {payload['host']}: reaches "
                           f"{payload['proxies_ready']} of {payload['proxies']} proxies")
            elif payload["kind"] == "cluster_clock_skew":
                out.append(f"host {payload['host']}: clock off by {payload['offset_s']:+.3f}s "
                           f"(bound {self.max_skew_s:g}s)")
            else:
                values = payload.get("versions") or payload.get("config_hashes") or {}
                out.append(f"{payload['kind']}: " + "; ".join(
                    f"{v}: {', '.join(s)}" for v, s in values.items()))
        return out


def _differs(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A skew alert is not raised again for every few ms of drift; a mismatch is when the set
    of values changes."""
    if new["kind"] in ("cluster_clock_skew", "bus_proxy_lost"):
        return False
    return dict(old) != dict(new)
