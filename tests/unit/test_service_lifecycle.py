"""Service and runtime assembly: the kill path, the dedupe hook, a bench peer's task, the chain."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from hope.bench.hope_peers import Peer
from hope.bus.memory import LocalBroker
from hope.middleware.dead_letter import DeadLetters
from hope.middleware.dedupe import Dedupe
from hope.middleware.retry import Retries
from hope.runtime import Runtime
from hope.service import Service, build, kill_quietly
from hope.testing import make_config, runtime_for_tests, service_for_tests


class BrokenKill(Service):
    """A service whose kill raises (it must not hide the error that ended the process)."""

    name = "broken"

    def kill(self) -> None:
        raise RuntimeError("kill failed")


async def test_kill_quietly_survives_a_raising_kill_and_still_kills_the_bus(tmp_path):
    """A service kill that raises is logged; the bus is still killed and nothing is raised."""
    svc = await service_for_tests(BrokenKill, tmp_path, LocalBroker())
    killed = []
    svc.runtime.bus.kill = lambda: killed.append(True)
    kill_quietly(svc, svc.runtime)
    assert killed == [True]


def test_dedupe_skip_is_the_bus_answer_with_no_shadowing_attribute(tmp_path):
    """Dedupe's skip hook is the bus's is_done itself, not an instance attribute over a method."""
    rt = runtime_for_tests("executor", tmp_path, LocalBroker())
    dedupe = Dedupe(rt.bus)
    assert "skip" not in vars(dedupe)
    assert dedupe.skip == rt.bus.is_done and dedupe.skip("h", "sha256:x") is False


class Forever(Peer):
    """A peer that sends until it is told to stop."""

    name = "forever"

    async def run(self) -> None:
        await asyncio.Event().wait()


async def test_a_bench_peer_task_is_kept_and_cancelled_on_stop(tmp_path):
    """The peer's sending task is referenced and cancelled by stop, not left dangling."""
    peer = await service_for_tests(Forever, tmp_path, LocalBroker(), args=argparse.Namespace())
    await peer.start()
    task = peer.task
    assert task is not None
    await peer.stop()
    assert task.cancelled()


def test_runtime_takes_its_middleware_chain_and_keeps_timer_and_heartbeat_apart(tmp_path):
    """The chain is what the caller passes; the handler timer and heartbeat are not in it."""
    bus = LocalBroker().bus("bare")
    rt = Runtime("bare", make_config(tmp_path), bus, middleware=[])
    assert rt.middleware == [] and rt.dead_letters is None and not rt.has_handler("retry")
    full = runtime_for_tests("full", tmp_path, LocalBroker())
    assert [type(m) for m in full.middleware] == [Dedupe, DeadLetters, Retries]
    assert full.timer.heartbeat in full.heartbeat_sources()


class DeadLetterPath(Service):
    """A service that is the dead-letter path itself."""

    name = "dlq-like"
    local_retry = True


async def test_a_local_retry_service_refuses_a_runtime_that_would_dead_letter(tmp_path):
    """bind does not patch the runtime: a local_retry service needs local-only dead letters."""
    rt = Runtime("dlq-like", make_config(tmp_path), LocalBroker().bus("dlq-like"))
    with pytest.raises(ValueError, match="local_retry"):
        await build(DeadLetterPath, rt)
    svc = await service_for_tests(DeadLetterPath, tmp_path, LocalBroker())
    assert svc.runtime.dead_letters.local_only
