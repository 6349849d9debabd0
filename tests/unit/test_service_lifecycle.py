"""Service lifecycle edges: the abnormal-exit kill path, the dedupe hook, a bench peer's task."""

from __future__ import annotations

import argparse
import asyncio

from hope.bench.hope_peers import Peer
from hope.bus.memory import LocalBroker
from hope.middleware.dedupe import Dedupe
from hope.service import Service, kill_quietly
from hope.testing import runtime_for_tests, service_for_tests


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
