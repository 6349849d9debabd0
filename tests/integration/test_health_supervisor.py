"""Tests for hope.health.supervisor: XML-RPC over a unix socket, against a real supervisord."""

import os
import time

import pytest

from hope.health.supervisor import SupervisorClient, SupervisorError
from hope.testing import wait_for

pytestmark = pytest.mark.integration


def test_states_and_restart_give_a_new_pid(supervisord):
    """states() names our group's programs; restart() kills it and autorestart gives a new pid."""
    client = supervisord
    (name, info), = client.states().items()
    old = client.process_info("scanner")["pid"]
    assert (name, info["state"], info["pid"]) == ("scanner", "RUNNING", old)
    assert abs(info["start"] - time.time()) < 60
    client.restart("scanner")
    wait_for(lambda: client.states()["scanner"]["state"] == "RUNNING"
             and client.process_info("scanner")["pid"] not in (0, old), timeout=30,
             message="scanner RUNNING with a new pid")


def test_start_of_running_process_is_not_an_error(supervisord):
    """start() on a running program is a no-op, not an exception."""
    supervisord.start("scanner")
    assert supervisord.states()["scanner"]["state"] == "RUNNING"


def test_unknown_process_fault_names_the_call(supervisord):
    """A supervisord fault becomes SupervisorError naming the call."""
    with pytest.raises(SupervisorError, match="getProcessInfo"):
        supervisord.process_info("nope")


def test_missing_socket_is_a_clear_error(tmp_path):
    """No supervisord on the socket raises SupervisorError naming the socket path."""
    client = SupervisorClient(tmp_path / "none.sock")
    with pytest.raises(SupervisorError, match="none.sock"):
        client.states()


def test_process_killed_by_restart_is_really_gone(supervisord):
    """The old pid no longer exists after a restart (the hung process really died)."""
    old = supervisord.process_info("scanner")["pid"]
    supervisord.restart("scanner")

    def gone() -> bool:
        try:
            os.kill(old, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=30, message=f"pid {old} gone")


def test_restart_of_a_stopped_process_starts_it(supervisord):
    """restart() on a STOPPED program starts it."""
    supervisord.stop("scanner")
    supervisord.restart("scanner")
    wait_for(lambda: supervisord.states()["scanner"]["state"] == "RUNNING", timeout=30,
             message="scanner RUNNING again")
