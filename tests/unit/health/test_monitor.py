"""Tests for hope.health.monitor: UP/DOWN/HUNG/FATAL and the restart budget, on a manual clock
whose monitor hears the bus (its own beat comes back every second: HeardClock)."""

from hope.health.config import HealthConfig
from hope.health.monitor import HealthMonitor, RestartBudget
from hope.health.registry import Registry
from hope.health.testing import HeardClock


def _rig(**kw):
    cfg = HealthConfig(required=["scanner"], down_after_s=5.0, restart_budget=2,
                       restart_window_s=100.0, restart_grace_s=10.0, fatal_restart_delay_s=30.0,
                       **kw)
    clock = HeardClock(1000.0)
    return clock.attach(HealthMonitor(cfg, Registry(), clock)), clock


def _beat(mon, handled=0, depth=0):
    return mon.on_heartbeat({"service": "scanner", "pid": 9, "handled": handled,
                             "queue_depth": depth})


def test_first_beat_is_up_and_reported():
    """A first heartbeat turns UNKNOWN into UP with a HEALTH payload."""
    mon, _ = _rig()
    (change,) = _beat(mon)
    assert change["status"] == "UP" and change["previous"] == "UNKNOWN"
    assert mon.not_up() == {}


def test_missing_beats_with_process_gone_is_down():
    """No beats for down_after_s while supervisord says EXITED is DOWN, with no restart."""
    mon, clock = _rig()
    _beat(mon)
    clock.advance(5.5)
    changes, restarts = mon.check({"scanner": "EXITED"})
    assert changes[0]["status"] == "DOWN" and "EXITED" in changes[0]["detail"]
    assert restarts == [] and "scanner" in mon.not_up()


def test_silent_but_running_is_hung_and_restarted_then_up():
    """No beats while RUNNING is HUNG: one restart, grace, then a beat brings it UP."""
    mon, clock = _rig()
    _beat(mon)
    clock.advance(6.0)
    changes, restarts = mon.check({"scanner": "RUNNING"})
    assert changes[0]["status"] == "HUNG"
    assert [(r.service, r.mode) for r in restarts] == [("scanner", "restart")]
    clock.advance(5.0)
    assert mon.check({"scanner": "RUNNING"}) == ([], [])  # within grace: no second restart
    assert _beat(mon)[0]["status"] == "UP"


def test_restart_budget_stops_flapping():
    """Past restart_budget restarts in the window the monitor reports instead of restarting."""
    mon, clock = _rig()
    _beat(mon)
    sent = []
    for _ in range(6):
        clock.advance(11.0)
        changes, restarts = mon.check({"scanner": "RUNNING"})
        sent += restarts
    assert len(sent) == 2
    assert mon.registry.get("scanner").restarts == 2


def test_fatal_is_restarted_after_the_delay():
    """A FATAL service is reported at once and started only after fatal_restart_delay_s."""
    mon, clock = _rig()
    _beat(mon)
    clock.advance(6.0)
    changes, restarts = mon.check({"scanner": "FATAL"})
    assert changes[0]["status"] == "FATAL" and restarts == []
    clock.advance(30.0)
    _, restarts = mon.check({"scanner": "FATAL"})
    assert [(r.service, r.mode) for r in restarts] == [("scanner", "start")]


def test_no_supervisor_means_down_and_no_restart():
    """Without supervisord states a silent service is DOWN and nothing is restarted."""
    mon, clock = _rig()
    _beat(mon)
    clock.advance(6.0)
    changes, restarts = mon.check(None)
    assert changes[0]["status"] == "DOWN" and restarts == []


def test_never_seen_service_goes_down_after_the_first_window():
    """A required service that never beats is DOWN once down_after_s passed since start."""
    mon, clock = _rig()
    assert mon.check({"scanner": "STARTING"}) == ([], [])
    clock.advance(6.0)
    changes, _ = mon.check({"scanner": "STARTING"})
    assert changes[0]["status"] == "DOWN" and "since the monitor started" in changes[0]["detail"]


def test_stalled_progress_with_queue_is_hung():
    """With stall_after_s set, beats that show a queue but no progress mean HUNG."""
    mon, clock = _rig(stall_after_s=3.0)
    _beat(mon, handled=5, depth=10)
    clock.advance(1.0)
    _beat(mon, handled=5, depth=10)
    clock.advance(3.0)
    assert _beat(mon, handled=5, depth=10)[0]["status"] == "HUNG"
    assert _beat(mon, handled=6, depth=9)[0]["status"] == "UP"


def test_a_wall_clock_step_makes_no_stall():
    """Progress at every beat, then the wall clock jumps an hour: still UP, no restart."""
    mon, clock = _rig(stall_after_s=30.0)
    _beat(mon, handled=5, depth=3)
    clock.advance(1.0)
    _beat(mon, handled=6, depth=3)
    clock.step(3600)
    changes, restarts = mon.check({"scanner": "RUNNING"})
    assert restarts == [] and mon.registry.entries["scanner"].status == "UP"


def test_listener_fatal_event_marks_service_fatal():
    """A HEALTH FATAL from the event listener updates the registry without re-publishing."""
    mon, clock = _rig()
    _beat(mon)
    assert mon.on_process_event({"service": "scanner", "status": "FATAL", "detail": "x"}) == []
    assert mon.not_up()["scanner"]["status"] == "FATAL"


def test_budget_window_slides():
    """A restart older than the window no longer counts against the budget."""
    b = RestartBudget(1, 10.0)
    b.spend("s", 0.0)
    assert not b.allows("s", 9.9) and b.allows("s", 10.0)


def test_fresh_process_gets_startup_grace_before_hung():
    """A process supervisord just (re)started is not HUNG until startup_grace_s without a beat."""
    mon, clock = _rig(startup_grace_s=30.0)
    _beat(mon)  # from pid 9
    clock.advance(6.0)
    new = {"scanner": {"state": "RUNNING", "pid": 10, "start": clock.time() - 1.0}}
    assert mon.check(new) == ([], [])
    clock.advance(29.0)
    assert mon.check(new) == ([], [])
    clock.advance(2.0)
    changes, restarts = mon.check(new)
    assert changes[0]["status"] == "HUNG" and len(restarts) == 1


def test_same_pid_silent_is_hung_after_down_after_s():
    """The process that sent the last beat, silent past down_after_s, is HUNG (no grace)."""
    mon, clock = _rig(startup_grace_s=30.0)
    _beat(mon)
    clock.advance(6.0)
    changes, _ = mon.check({"scanner": {"state": "RUNNING", "pid": 9, "start": 1.0}})
    assert changes[0]["status"] == "HUNG"


def test_exited_process_is_down_without_startup_grace():
    """An exited process (pid 0) is DOWN after down_after_s; the startup grace does not apply."""
    mon, clock = _rig(startup_grace_s=30.0)
    _beat(mon)
    clock.advance(6.0)
    changes, restarts = mon.check({"scanner": {"state": "BACKOFF", "pid": 0,
                                               "start": clock.time() - 1.0}})
    assert changes[0]["status"] == "DOWN" and restarts == []


def test_proxy_outage_does_not_restart_the_other_services():
    """While the proxy is silent no other service is judged HUNG (their beats cannot arrive),
    even by a monitor that hears its own beat."""
    clock = HeardClock(1000.0)
    cfg = HealthConfig(required=["executor"], down_after_s=2.0, restart_grace_s=10.0,
                       startup_grace_s=0.0)
    mon = clock.attach(HealthMonitor(cfg, Registry(), clock))
    for name, pid in (("proxy", 1), ("executor", 2)):
        mon.on_heartbeat({"service": name, "pid": pid, "epoch": "e"})
    clock.advance(5.0)  # nobody beats: the bus is down
    states = {"proxy": {"state": "RUNNING", "pid": 1, "start": 900.0},
              "executor": {"state": "RUNNING", "pid": 2, "start": 900.0}}
    _, restarts = mon.check(states)
    assert [r.service for r in restarts] == ["proxy"]
    clock.advance(1.0)
    mon.on_heartbeat({"service": "proxy", "pid": 3, "epoch": "e2"})
    states["proxy"] = {"state": "RUNNING", "pid": 3, "start": 1005.0}
    clock.advance(1.0)  # proxy back; the executor's beats are not flowing yet: still grace
    _, restarts = mon.check(states)
    assert restarts == []


def test_a_failing_witness_push_is_a_warning_not_a_failure():
    """The audit writer's heartbeat saying its witness push fails is a warning, the service UP."""
    mon, _ = _rig()
    mon.on_heartbeat({"service": "audit-writer", "pid": 3, "witnesses_ok": False,
                      "witnesses": {"http://w:8790": {"ok": False, "error": "unreachable"}}})
    assert mon.registry.get("audit-writer").status == "UP"
    assert mon.warnings() == ["audit-writer: witness push failing: http://w:8790: unreachable"]
    mon.on_heartbeat({"service": "audit-writer", "pid": 3, "witnesses_ok": True,
                      "witnesses": {"http://w:8790": {"ok": True, "size": 9}}})
    assert mon.warnings() == []


def test_a_bus_without_event_authentication_is_a_health_warning():
    """A heartbeat whose bus stats say ``authenticated: false`` shows on /health's warnings."""
    mon, _ = _rig()
    mon.on_heartbeat({"service": "executor", "pid": 3, "bus": {"authenticated": False}})
    assert mon.warnings() == ["executor: events NOT authenticated ([bus] authenticate = false)"]
    mon.on_heartbeat({"service": "executor", "pid": 3, "bus": {"authenticated": True}})
    assert mon.warnings() == []


def test_one_proxy_of_two_silent_does_not_hide_a_hang():
    """Two proxies (every service linked to both): ``proxy`` silent, ``proxy-2`` beating, the
    monitor hearing its own beat: the silent executor is still HUNG and restarted; with both
    proxies silent it is not judged."""
    cfg = HealthConfig(required=["executor"], down_after_s=2.0, restart_grace_s=10.0,
                       startup_grace_s=0.0)
    states = {"executor": {"state": "RUNNING", "pid": 2, "start": 900.0}}
    for proxies_beating, restarted in ((["proxy-2"], ["executor"]), ([], [])):
        clock = HeardClock(1000.0)
        mon = clock.attach(HealthMonitor(cfg, Registry(), clock, host="h4"))
        for name, pid, host in (("proxy", 1, "h1"), ("proxy-2", 3, "h2"), ("executor", 2, "h4")):
            mon.on_heartbeat({"service": name, "pid": pid, "epoch": "e", "host": host})
        for _ in range(5):
            clock.advance(1.0)
            for name in proxies_beating:
                mon.on_heartbeat({"service": name, "pid": 3, "epoch": "e", "host": "h2"})
        _, restarts = mon.check(states)
        assert [r.service for r in restarts] == restarted, proxies_beating
