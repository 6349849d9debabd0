"""The notifier's deferred failures take the runtime's own dead-letter path."""

from __future__ import annotations

from hope.bus.memory import LocalBroker
from hope.envelope import new_event
from hope.notify.service import RESEND, _dead_letter
from hope.testing import runtime_for_tests


async def test_a_resend_failure_is_kept_locally_when_dead_letter_cannot_be_published(tmp_path):
    """A failed batch notice whose DEAD_LETTER cannot go out is kept for a local retry."""
    rt = runtime_for_tests("gateway", tmp_path, LocalBroker())

    async def bus_down(*a, **kw):
        raise OSError(28, "disk full")

    rt.publish = bus_down
    env = new_event("ALERT", {"kind": "x", "service": "executor"}, source="executor")
    await _dead_letter(rt, env, RuntimeError("HTTP 502"))
    (kept,) = rt.dead_letters.pending
    assert kept.handler == RESEND and kept.env.event_id == env.event_id
