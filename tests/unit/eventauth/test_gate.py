"""The event gate: MAC, signer named as publisher, authority, replay rule, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from hope import codec
from hope.bus.base import Sequencer
from hope.config import ConfigError
from hope.envelope import new_event
from hope.eventauth.gate import EventGate, Refusal
from hope.eventauth.keys import ENROL_ENV, EventKeyError
from hope.testing import make_config, seal_frames


def _gate(state_dir: Path, name: str = "executor") -> EventGate:
    gate = EventGate.for_bus(name, make_config(state_dir))
    assert gate is not None
    return gate


def _frames(state_dir: Path, signer: str, event_type: str, payload: dict, source: str,
            epoch: str = "e1") -> tuple:
    env = Sequencer(source, epoch).stamp(new_event(event_type, payload, source=source))
    topic, body, auth = seal_frames(state_dir, signer, [env.topic.encode(), codec.encode(env)])
    return env, body, auth


FLATTEN = {"service": "*", "command": "flatten"}


def test_the_operators_flatten_is_admitted(state_dir: Path):
    """A CONTROL flatten sealed by the operator, naming it: admitted."""
    gate = _gate(state_dir)
    env, body, auth = _frames(state_dir, "operator", "CONTROL", FLATTEN, "operator")
    gate.admit(body, auth, env)


@pytest.mark.parametrize("signer, source, reason", [
    ("scanner", "operator", "auth_impostor"),     # someone's key, the operator's name
    ("scanner", "scanner", "auth_no_authority"),  # its own name, no authority for flatten
])
def test_impostors_and_principals_without_authority_are_refused(state_dir, signer, source,
                                                                 reason):
    """The body's publisher must be the signer, and the signer must hold the authority."""
    gate = _gate(state_dir)
    env, body, auth = _frames(state_dir, signer, "CONTROL", FLATTEN, source)
    with pytest.raises(Refusal) as err:
        gate.admit(body, auth, env)
    assert err.value.reason == reason


def test_no_auth_frame_and_a_replayed_watermark_are_refused(state_dir: Path):
    """Missing auth: auth_missing; the same WATERMARK admitted twice: auth_replayed."""
    gate = _gate(state_dir)
    env, body, auth = _frames(state_dir, "audit-writer", "WATERMARK", {"watermarks": {}},
                              "audit-writer")
    with pytest.raises(Refusal, match="without an auth frame"):
        gate.admit(body, None, env)
    gate.admit(body, auth, env)
    with pytest.raises(Refusal) as err:
        gate.admit(body, auth, env)
    assert err.value.reason == "auth_replayed"


def test_alerts_are_rate_limited_per_reason(state_dir: Path):
    """One ALERT per reason per ten seconds, whatever the flood."""
    gate = _gate(state_dir)
    assert gate.alert_due("auth_missing", 100.0) and not gate.alert_due("auth_missing", 105.0)
    assert gate.alert_due("auth_bad_mac", 105.0) and gate.alert_due("auth_missing", 111.0)


def test_a_missing_key_refuses_to_start_unless_enrolment_is_allowed(state_dir, monkeypatch):
    """Production: no key file → EventKeyError naming it; the test environment enrols."""
    monkeypatch.delenv(ENROL_ENV, raising=False)
    with pytest.raises(EventKeyError, match="hope keys init"):
        EventGate.for_bus("newcomer", make_config(state_dir))
    monkeypatch.setenv(ENROL_ENV, "1")
    assert EventGate.for_bus("newcomer", make_config(state_dir)) is not None


def test_authentication_off_is_only_for_ipc(state_dir: Path):
    """``authenticate = false`` gives no gate on ipc, and refuses to load with tcp."""
    assert EventGate.for_bus("x", make_config(state_dir, {"bus": {"authenticate": False}})) \
        is None
    with pytest.raises(ConfigError, match="authenticate"):
        make_config(state_dir, {"bus": {"authenticate": False, "transport": "tcp"}})
