"""Tests for hope.health.hearing: a monitor cut off from the bus restarts nobody for silence, and
real hangs are still found, on a manual clock."""

from hope.clock import ManualClock
from hope.health.config import HealthConfig
from hope.health.hearing import BusHearing
from hope.health.monitor import HealthMonitor
from hope.health.registry import Registry
from hope.health.testing import SteppedClock

STATES = {"executor": {"state": "RUNNING", "pid": 2, "start": 900.0},
          "proxy": {"state": "RUNNING", "pid": 1, "start": 900.0}}


def _rig(host: str = "", **kw) -> tuple[HealthMonitor, ManualClock]:
    """A monitor on a manual clock that hears only the beats ``_run`` delivers (its own too)."""
    cfg = HealthConfig(required=["executor"], down_after_s=5.0, restart_grace_s=10.0,
                       startup_grace_s=0.0, **kw)
    clock = ManualClock(1000.0)
    return HealthMonitor(cfg, Registry(), clock, host=host), clock


def _beat(mon: HealthMonitor, name: str, pid: int, host: str = "") -> None:
    mon.on_heartbeat({"service": name, "pid": pid, "epoch": f"e{pid}", "host": host})


def _run(mon: HealthMonitor, clock: ManualClock, seconds: float, beating: list[str],
         states: dict = STATES) -> list:
    """``seconds`` of 0.5 s steps: who is in ``beating`` beats every second, the monitor checks
    every second; every restart it asks for."""
    restarts = []
    for step in range(int(seconds * 2)):
        clock.advance(0.5)
        if step % 2:
            for name in beating:
                _beat(mon, name, {"health-monitor": 7, "executor": 2, "proxy": 1}[name])
            restarts += mon.check(states)[1]
    return restarts


def test_a_five_second_link_outage_restarts_nobody():
    """Own beats and the executor's stop for 5 s (the host's link to the proxies, which the
    monitor does not hear from, is out); the executor needs 1.5 s more to reconnect: it is
    never restarted and stays UP."""
    mon, clock = _rig()
    everyone = ["health-monitor", "executor"]
    assert _run(mon, clock, 3, everyone) == []
    assert _run(mon, clock, 5, []) == []                       # the outage
    assert _run(mon, clock, 1.5, ["health-monitor"]) == []     # executor reconnecting
    assert _run(mon, clock, 10, everyone) == []
    assert mon.registry.get("executor").status == "UP" and mon.restarts_total == 0


def test_a_hang_is_still_found_while_the_monitor_hears_the_bus():
    """The monitor's own beats keep coming back; the executor goes silent: HUNG, restarted."""
    mon, clock = _rig()
    everyone = ["health-monitor", "proxy", "executor"]
    _run(mon, clock, 3, everyone)
    restarts = _run(mon, clock, 7, ["health-monitor", "proxy"])
    assert [(r.service, r.mode) for r in restarts] == [("executor", "restart")]
    assert "while the process is RUNNING" in restarts[0].reason


def test_a_service_silent_after_the_link_is_back_is_hung_a_full_window_later():
    """The executor does not come back after an outage: judged HUNG down_after_s after the
    monitor's own link returned, not earlier, and the detail says so."""
    mon, clock = _rig()
    _run(mon, clock, 3, ["health-monitor", "executor"])
    _run(mon, clock, 6, [])                                    # the outage
    assert _run(mon, clock, 7, ["health-monitor"]) == []       # 6 s heard: not yet (5 + a beat)
    assert mon.hearing.outages == 1
    restarts = _run(mon, clock, 1, ["health-monitor"])
    assert [r.service for r in restarts] == ["executor"]
    assert "heard (" in restarts[0].reason and "the bus link out meanwhile" in restarts[0].reason


def test_while_cut_off_a_proxy_of_its_own_host_is_still_judged():
    """A hung proxy on the monitor's own host also silences the monitor's own beats: the proxy
    is restarted, the executor (whose silence the proxy causes) is not."""
    mon, clock = _rig()
    _run(mon, clock, 3, ["health-monitor", "proxy", "executor"])
    restarts = _run(mon, clock, 7, [])
    assert [r.service for r in restarts] == ["proxy"]


def test_a_cut_off_monitor_leaves_statuses_alone_and_warns_until_it_hears_again():
    """Cut off, no service turns DOWN or HUNG for silence and /health's warnings name the
    outage; the warning clears once the monitor's own beat is back."""
    mon, clock = _rig(host="h4")
    _beat(mon, "executor", 2, host="h4")
    _beat(mon, "health-monitor", 7, host="h4")
    _beat(mon, "proxy", 1, host="h1")
    clock.advance(8.0)
    changes, restarts = mon.check(STATES)
    assert changes == [] and restarts == []        # a remote proxy is not ours to judge
    assert mon.registry.get("executor").status == "UP"
    (warning,) = mon.warnings()
    assert warning.startswith("health-monitor: own heartbeat not back") and "8s" in warning
    _beat(mon, "health-monitor", 7, host="h4")
    assert mon.warnings() == []


def test_a_monitor_started_cut_off_restarts_no_silent_service():
    """Started while its link is out (its own beat never comes back): the silent executor is
    not judged HUNG nor restarted however long it lasts; /health names the monitor CUT_OFF."""
    mon, clock = _rig()
    assert _run(mon, clock, 30, []) == []
    assert mon.registry.get("executor").status == "UNKNOWN" and mon.restarts_total == 0
    assert mon.not_up()["health-monitor"]["status"] == "CUT_OFF"
    (warning,) = mon.warnings()
    assert "since the monitor started 30s ago" in warning


def test_after_its_first_echo_a_silent_service_is_judged_as_before():
    """Started cut off, the link comes up at 20 s: the executor, silent throughout, is HUNG
    down_after_s (plus a beat) of heard time later, not before, and restarted."""
    mon, clock = _rig()
    assert _run(mon, clock, 20, []) == []
    assert _run(mon, clock, 7, ["health-monitor"]) == []   # 6 s heard: not yet (5 + a beat)
    restarts = _run(mon, clock, 1, ["health-monitor"])
    assert [(r.service, r.mode) for r in restarts] == [("executor", "restart")]
    assert mon.hearing.outages == 0  # the first echo is the link coming up, not a return


def test_no_warning_while_the_first_echo_is_on_its_way():
    """Within the gap after its start the monitor does not hear yet but warns of nothing."""
    mon, clock = _rig()
    clock.advance(2.0)
    assert mon.hearing.deaf(clock.monotonic()) and mon.warnings() == []
    assert "health-monitor" not in mon.not_up()


def test_a_wall_clock_stepped_back_counts_no_outage_twice():
    """The wall clock steps back 30 s after an outage: the silences are measured on the
    monotonic clock, so the executor silent since the outage is HUNG one window after the
    link's return as without the step, and a beating one never is."""
    cfg = HealthConfig(required=["executor"], down_after_s=5.0, restart_grace_s=10.0,
                       startup_grace_s=0.0)
    runs = []
    for step in (0.0, -30.0, 30.0):
        clock = SteppedClock(1000.0, mono=50.0)
        mon = HealthMonitor(cfg, Registry(), clock)
        _run(mon, clock, 3, ["health-monitor", "executor"], {"executor": STATES["executor"]})
        _run(mon, clock, 6, [], {"executor": STATES["executor"]})      # the outage
        clock.step(step)
        quiet = _run(mon, clock, 7, ["health-monitor"], {"executor": STATES["executor"]})
        hung = _run(mon, clock, 1, ["health-monitor"], {"executor": STATES["executor"]})
        runs.append((quiet, [r.service for r in hung], mon.hearing.outages))
    assert runs == [([], ["executor"], 1)] * 3


def test_a_wall_clock_step_forward_is_no_silence():
    """The wall clock jumps 60 s ahead between two checks: nobody beating is judged silent."""
    cfg = HealthConfig(required=["executor"], down_after_s=5.0, startup_grace_s=0.0)
    clock = SteppedClock(1000.0, mono=50.0)
    mon = HealthMonitor(cfg, Registry(), clock)
    everyone = ["health-monitor", "proxy", "executor"]
    _run(mon, clock, 3, everyone)
    clock.step(60.0)
    assert _run(mon, clock, 0.5, everyone) == [] and mon.check(STATES) == ([], [])
    assert mon.registry.get("executor").status == "UP"


def test_the_gap_defaults_to_two_and_a_half_beat_intervals_unless_configured():
    """``[health] link_gap_s`` 0 derives the gap from the heartbeat interval; a value wins."""
    clock = ManualClock(0.0)
    derived = HealthMonitor(HealthConfig(), Registry(), clock, beat_interval_s=0.5)
    configured = HealthMonitor(HealthConfig(link_gap_s=4.0), Registry(), clock,
                               beat_interval_s=0.5)
    assert derived.hearing.gap_s == 1.25 and configured.hearing.gap_s == 4.0


def test_bus_hearing_takes_the_spans_cut_off_out_of_a_silence():
    """An echo after a gap is a return (counted); the span from the last echo before it to the
    return, and the current one while cut off, are not heard time."""
    h = BusHearing(2.0, started=0.5)
    assert h.deaf(0.5) and h.heard(0.0, 1.0) == 0.5      # not heard yet: from the start on
    assert not h.link_out(2.5) and h.link_out(2.6)
    assert h.echo(1.0) is False and h.echo(2.5) is False  # the first echo is no return
    assert h.deaf(5.0) and not h.deaf(4.5) and h.deaf_for(5.0) == 2.5
    assert h.heard(2.0, 6.0) == 0.5                    # cut off since 2.5, still
    assert h.echo(9.0) is True and h.outages == 1 and h.echo(11.0) is False
    assert h.heard(2.0, 12.0) == 3.5                   # 2.0-2.5 and 9-12
    assert h.heard(10.0, 12.0) == 2.0
    assert h.heard(0.5, 12.0) == 4.5                   # 0.5-1.0 before the first echo too


def test_a_hung_or_fatal_service_stays_so_across_an_outage():
    """The link out and back changes nobody's verdict: a HUNG executor (restart budget spent)
    and a FATAL one stay as they were, /health still names them."""
    mon, clock = _rig(restart_budget=0)
    only_executor = {"executor": STATES["executor"]}   # the proxy is another host's, unseen
    _run(mon, clock, 3, ["health-monitor", "executor"], only_executor)
    _run(mon, clock, 8, ["health-monitor"], only_executor)
    assert mon.registry.get("executor").status == "HUNG"
    _run(mon, clock, 6, [], only_executor)                         # the outage
    _run(mon, clock, 3, ["health-monitor"], only_executor)
    assert mon.registry.get("executor").status == "HUNG" and "executor" in mon.not_up()
    fatal = {"executor": "FATAL"}
    _run(mon, clock, 2, ["health-monitor"], fatal)
    assert mon.registry.get("executor").status == "FATAL"
    _run(mon, clock, 6, [], fatal)
    _run(mon, clock, 3, ["health-monitor"], fatal)
    assert mon.registry.get("executor").status == "FATAL" and "executor" in mon.not_up()


def test_a_long_outage_with_a_silent_proxy_still_starts_a_fatal_local_program():
    """The proxy (which beat before) silent for the whole of an 8 s outage does not stop the
    monitor from judging supervisord's FATAL of a program of its own host."""
    mon, clock = _rig(fatal_restart_delay_s=2.0)
    _run(mon, clock, 3, ["health-monitor", "proxy", "executor"])
    _run(mon, clock, 8, [])
    fatal = {**STATES, "executor": "FATAL"}
    restarts = _run(mon, clock, 4, [], fatal)
    assert mon.registry.get("executor").status == "FATAL"
    assert ("executor", "start") in [(r.service, r.mode) for r in restarts]


def test_a_service_beating_within_down_after_s_of_the_return_is_not_restarted():
    """The executor last beat a second before the monitor's own last echo (where the outage is
    taken to start) and beats again 4.5 s after the link returns (down_after_s 5): checked just
    before that beat, it is not restarted."""
    mon, clock = _rig()
    _run(mon, clock, 2, ["health-monitor", "executor"])            # executor last at 1002
    _run(mon, clock, 1, ["health-monitor"])                        # monitor's last echo 1003
    assert _run(mon, clock, 8, []) == []                           # the outage
    assert _run(mon, clock, 5, ["health-monitor"]) == []           # back at 1012; now 1016
    clock.advance(0.5)
    assert mon.check(STATES)[1] == []                              # 5.5 s heard in all
    _beat(mon, "executor", 2)
    assert mon.registry.get("executor").status == "UP" and mon.restarts_total == 0


def test_cut_off_a_program_supervisord_reports_stopped_is_still_judged_and_started():
    """supervisord's FATAL needs no bus: while cut off the local executor turns FATAL and is
    started again after fatal_restart_delay_s."""
    mon, clock = _rig(fatal_restart_delay_s=2.0)
    _run(mon, clock, 3, ["health-monitor", "executor"])   # the proxy is another host's
    restarts = _run(mon, clock, 8, [], {"executor": "FATAL"})
    assert mon.hearing.deaf(clock.time()) and mon.registry.get("executor").status == "FATAL"
    assert [(r.service, r.mode) for r in restarts] == [("executor", "start")]


def test_a_hang_is_found_while_the_link_flaps():
    """The monitor's own echo missing 3 s of every 5 s (each a gap): the heard time adds up
    across the gaps and the silent executor is still restarted."""
    mon, clock = _rig()
    _run(mon, clock, 3, ["health-monitor", "proxy", "executor"])
    restarts = []
    for _ in range(6):
        restarts += _run(mon, clock, 2, ["health-monitor", "proxy"])
        restarts += _run(mon, clock, 3, ["proxy"])
    assert mon.hearing.outages >= 5
    assert restarts and {r.service for r in restarts} == {"executor"}


def test_a_monitor_cut_off_for_longer_than_down_after_s_is_not_up_on_health():
    """Cut off for more than down_after_s, /health's not-up list names the monitor itself
    (CUT_OFF): a monitor that hears nothing cannot vouch for anything."""
    mon, clock = _rig()
    _run(mon, clock, 3, ["health-monitor", "proxy", "executor"])
    _run(mon, clock, 4, [])
    assert "health-monitor" not in mon.not_up()                    # 4 s: not yet
    _run(mon, clock, 2, [])
    assert mon.not_up()["health-monitor"]["status"] == "CUT_OFF"
    _run(mon, clock, 1, ["health-monitor", "proxy", "executor"])
    assert mon.not_up() == {}
