"""Health on several hosts: each monitor restarts only its own host's programs; the cluster
view marks silent hosts and ALERTs on version, config and clock disagreements (manual clock)."""

from hope.health.cluster_view import ClusterView
from hope.health.config import HealthConfig
from hope.health.monitor import HealthMonitor
from hope.health.registry import Registry
from hope.health.testing import HeardClock


def beat(reg: Registry, service: str, host: str, now: float, version: str = "1.0",
         config_hash: str = "cfg:a", wall: float | None = None) -> dict:
    payload = {"service": service, "pid": 1, "host": host, "version": version,
               "config_hash": config_hash, "wall_ts": now if wall is None else wall}
    reg.observe(payload, now)
    return payload


def test_a_monitor_restarts_a_hung_program_of_its_own_host_only():
    """Two services hung (silent while RUNNING), one on each host: only h1's is restarted."""
    clock = HeardClock(1000.0)
    mon = clock.attach(HealthMonitor(HealthConfig(required=[], down_after_s=5.0), Registry(),
                                     clock, host="h1"))
    mon.on_heartbeat({"service": "scanner-1", "pid": 7, "host": "h1"})
    mon.on_heartbeat({"service": "executor", "pid": 8, "host": "h2"})
    clock.advance(6.0)
    changes, restarts = mon.check({"scanner-1": "RUNNING", "executor": "RUNNING"})
    assert {c["service"] for c in changes} == {"scanner-1", "executor"}
    assert [r.service for r in restarts] == ["scanner-1"]


def test_a_host_whose_services_stopped_beating_is_silent():
    """h2's only service beat 10 s ago (down after 5 s): h2 SILENT, h1 UP, both listed."""
    reg, view = Registry(), ClusterView(max_clock_skew_s=2.0, silent_after_s=5.0)
    beat(reg, "executor", "h2", 990.0)
    beat(reg, "proxy", "h1", 999.0)
    beat(reg, "proxy-2", "h1", 999.5)
    hosts = view.hosts(reg, 1000.0)
    assert hosts["h2"]["status"] == "SILENT" and hosts["h1"]["status"] == "UP"
    assert hosts["h1"]["services"] == ["proxy", "proxy-2"]


def test_version_and_config_mismatches_alert_once_and_clear():
    """A service on another version and one on another config hash: one ALERT each; again
    nothing while it lasts; a cleared ALERT once they agree."""
    reg, view = Registry(), ClusterView(2.0, 5.0)
    beat(reg, "proxy", "h1", 1000.0)
    beat(reg, "executor", "h2", 1000.0, version="1.1", config_hash="cfg:b")
    alerts = view.alerts(reg, 1000.0)
    kinds = {a["kind"]: a for a in alerts}
    assert set(kinds) == {"cluster_version_mismatch", "cluster_config_mismatch"}
    assert kinds["cluster_version_mismatch"]["versions"] == {"1.0": ["h1/proxy"],
                                                              "1.1": ["h2/executor"]}
    assert view.alerts(reg, 1000.5) == []
    assert any("cluster_config_mismatch" in w for w in view.warnings())
    beat(reg, "executor", "h2", 1001.0)
    cleared = view.alerts(reg, 1001.0)
    assert {a["kind"] for a in cleared} == set(kinds) and all(a["cleared"] for a in cleared)


def test_a_host_clock_off_by_more_than_the_bound_alerts():
    """A heartbeat stamped 5 s ahead of our clock: ALERT cluster_clock_skew naming the host;
    one 0.5 s late (transit) is not skew."""
    reg, view = Registry(), ClusterView(max_clock_skew_s=2.0, silent_after_s=5.0)
    view.on_heartbeat(beat(reg, "scanner-1", "h5", 1000.0, wall=1005.0), 1000.0)
    view.on_heartbeat(beat(reg, "proxy", "h1", 1000.0, wall=999.5), 1000.0)
    (alert,) = view.alerts(reg, 1000.0)
    assert alert["kind"] == "cluster_clock_skew" and alert["host"] == "h5"
    assert alert["offset_s"] == 5.0
    assert view.hosts(reg, 1000.0)["h1"]["clock_skew_s"] == -0.5


def test_a_service_reaching_fewer_proxies_than_configured_alerts_until_back():
    """bus.links says 1 of 2 proxies: ALERT bus_proxy_lost naming the service and host, listed
    on /health; both ready again: cleared."""
    reg, view = Registry(), ClusterView(2.0, 5.0)
    links = {"proxies_ready": 1, "proxies": 2, "disconnects": 3}
    reg.observe({"service": "executor", "pid": 1, "host": "h4", "bus": {"links": links}}, 1000.0)
    (alert,) = view.alerts(reg, 1000.0)
    assert (alert["kind"], alert["service"], alert["host"]) == ("bus_proxy_lost", "executor", "h4")
    assert view.warnings() == ["executor on h4: reaches 1 of 2 proxies"]
    reg.observe({"service": "executor", "pid": 1, "host": "h4",
                 "bus": {"links": {**links, "proxies_ready": 2}}}, 1001.0)
    (cleared,) = view.alerts(reg, 1001.0)
    assert cleared["kind"] == "bus_proxy_lost" and cleared["cleared"] is True
