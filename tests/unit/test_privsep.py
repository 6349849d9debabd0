"""Privilege separation without processes: the rendered users, the start-up check, the mode."""

from __future__ import annotations

import configparser

import pytest

from hope import privsep
from hope.supervisor_conf import program_names, render
from hope.testing import make_config


def test_render_gives_every_program_its_own_user_and_the_monitor_the_socket(state_dir):
    """With privilege_separation each program gets user=hope-<program> and umask 027, the
    event listener its principal's user, and supervisord's socket belongs to the monitor."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(render(state_dir, run_as=privsep.run_as()))
    for program in program_names():
        assert parser.get(f"program:{program}", "user") == f"hope-{program}"
        assert parser.get(f"program:{program}", "umask") == "027"
    assert parser.get("eventlistener:hope-events", "user") == "hope-health-listener"
    assert parser.get("unix_http_server", "chown") == "hope-health-monitor:root"
    plain = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    plain.read(render(state_dir))
    assert not plain.has_option("program:proxy", "user")


def test_a_service_not_under_its_own_user_refuses_naming_supervisord(state_dir):
    """Enabled but running as another user (supervisord not root, or a plain config): the
    service is refused with a message that says supervisord must run as root."""
    privsep.check_service(make_config(state_dir), "executor")  # disabled: nothing to check
    on = make_config(state_dir, {"hope": {"privilege_separation": True}})
    with pytest.raises(privsep.PrivsepError, match="supervisord must run as root|does not exist"):
        privsep.check_service(on, "executor")


def test_mode_says_single_user_unless_enabled(state_dir):
    """The default instance reports one user for everything; enabled, one user per program."""
    assert privsep.mode(make_config(state_dir))["mode"] == "single user"
    on = make_config(state_dir, {"hope": {"privilege_separation": True}})
    assert privsep.mode(on) == {"privilege_separation": True, "mode": "one user per program",
                                "group": "hope"}
