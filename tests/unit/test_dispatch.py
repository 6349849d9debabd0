"""The dispatcher: plain handlers and hooks run synchronously, the rest of a dispatch becomes a
coroutine exactly where something has to be awaited, with the same hooks, order and stats."""

from __future__ import annotations

import asyncio

from hope.bus.memory import LocalBroker
from hope.envelope import new_event
from hope.middleware import Middleware
from hope.testing import async_wait_for, runtime_for_tests
from tests.helpers import EagerBus

SIGNAL = {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0, "market_ts": 1_600_000_000.0}

CALLS: list[str] = []


class Gate(Middleware):
    """A ``before`` hook answering None, or an awaitable of the event's ``answer`` field."""

    def __init__(self, name: str) -> None:
        self.name = name

    def wants(self, topic: str) -> bool:
        return True

    def before(self, env):
        CALLS.append(self.name)
        if "answer" not in env.payload:
            return None
        return _later(env.payload["answer"])

    def after(self, env, done):
        CALLS.append(f"after {self.name} {done}")


async def _later(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


def signal(**extra):
    return new_event("SIGNAL", {**SIGNAL, **extra}, source="scanner")


def runtime(state_dir, *gates: str):
    CALLS.clear()
    rt = runtime_for_tests("executor", state_dir, LocalBroker())
    rt.use(*(Gate(g) for g in gates))
    return rt


async def test_plain_handlers_are_dispatched_without_a_coroutine(state_dir):
    """A plain function and a coroutine handler that never waits finish inside dispatch()."""
    rt = runtime(state_dir, "g")

    def plain(env):
        CALLS.append("plain")

    async def quick(env):
        CALLS.append("quick")

    rt.subscribe("SIGNAL", plain, name="plain")
    rt.subscribe("SIGNAL", quick, name="quick")
    env = signal()
    assert rt.dispatcher.dispatch(env) is None
    assert CALLS == ["g", "plain", "quick", "after g ['plain', 'quick']"]
    assert rt.bus.is_done("plain", env.event_id) and rt.bus.is_done("quick", env.event_id)
    assert [rt.handler_stats[h].count for h in ("plain", "quick")] == [1, 1]
    assert rt.events_in["SIGNAL"] == 1


async def test_a_waiting_handler_makes_the_rest_a_coroutine_in_order(state_dir):
    """Handlers after one that waits run only once it finished; the after hook runs once."""
    rt = runtime(state_dir, "g")
    gate = asyncio.get_running_loop().create_future()

    async def slow(env):
        CALLS.append("slow")
        await gate
        CALLS.append("slow done")

    rt.subscribe("SIGNAL", slow, name="slow")
    rt.subscribe("SIGNAL", lambda env: CALLS.append("next"), name="next")
    rest = rt.dispatcher.dispatch(signal())
    assert rest is not None and CALLS == ["g", "slow"]
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    assert CALLS == ["g", "slow"]
    gate.set_result(None)
    await task
    assert CALLS == ["g", "slow", "slow done", "next", "after g ['slow', 'next']"]
    assert rt.handler_stats["slow"].count == 1 and rt.handler_stats["slow"].errors == 0


async def test_a_raising_handler_is_dead_lettered_and_the_next_one_runs(state_dir):
    """A handler that raises goes to the dead letters; later handlers and the after hook run."""
    rt = runtime(state_dir, "g")

    def boom(env):
        raise ValueError("bad signal")

    rt.subscribe("SIGNAL", boom, name="boom")
    rt.subscribe("SIGNAL", lambda env: CALLS.append("ok"), name="ok")
    await rt.bus.start()
    env = signal()
    rest = rt.dispatcher.dispatch(env)
    assert rest is not None  # the failed middleware is awaited
    await rest
    assert CALLS == ["g", "ok", "after g ['ok']"]
    dead = [e for e in rt.bus.broker.published if e.event_type == "DEAD_LETTER"]
    assert [d.payload["handler"] for d in dead] == ["boom"]
    assert dead[0].payload["error"] == "ValueError: bad signal"
    assert rt.handler_stats["boom"].errors == 1 and not rt.bus.is_done("boom", env.event_id)


async def test_a_refusing_before_hook_stops_the_dispatch_after_journaling(state_dir):
    """A before hook answering False runs no handler and no later hook; after still runs."""
    rt = runtime(state_dir, "first", "second")
    rt.subscribe("SIGNAL", lambda env: CALLS.append("handler"), name="h")
    await rt._dispatch(signal(answer=False))
    assert CALLS == ["first", "after first []", "after second []"]
    assert rt.handler_stats["h"].count == 0


async def test_an_accepting_before_hook_goes_on_with_the_later_hooks(state_dir):
    """A before hook answering True (awaited) lets the later hooks and the handlers run."""
    rt = runtime(state_dir, "first", "second")
    rt.subscribe("SIGNAL", lambda env: CALLS.append("handler"), name="h")
    await rt._dispatch(signal(answer=True))
    assert CALLS == ["first", "second", "handler", "after first ['h']", "after second ['h']"]


async def test_sync_events_behind_a_waiting_one_keep_their_order(state_dir):
    """Events whose handler is a plain function, arriving while an inline dispatch waits, run
    after it, in arrival order."""
    rt = runtime(state_dir)
    rt.bus = EagerBus(rt.bus)
    gate = asyncio.get_running_loop().create_future()
    order = []

    async def first(env):
        if env.payload["n"] == 0:
            await gate
        order.append(("first", env.payload["n"]))

    rt.subscribe("SIGNAL", first, name="first")
    rt.subscribe("SIGNAL", lambda env: order.append(("second", env.payload["n"])), name="second")
    task = asyncio.create_task(rt.run())
    await async_wait_for(lambda: rt.bus.reader is not None and rt._eager, interval=0.001,
                         message="the service running with inline dispatch")
    for n in range(3):
        rt.bus.reader(signal(n=n))
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == []
    gate.set_result(None)
    await async_wait_for(lambda: len(order) == 6, interval=0.001, message="three handled")
    assert order == [(h, n) for n in range(3) for h in ("first", "second")]
    rt.request_stop()
    await asyncio.wait_for(task, 5)
