"""Eager start of coroutines: finish inline when nothing waits, else a Task with normal semantics."""

from __future__ import annotations

import asyncio

import pytest

from hope import eager


async def test_a_coroutine_that_never_waits_finishes_inline():
    """No Task is made; the side effect is visible as soon as start() returns."""
    seen = []

    async def publish():  # like Service.publish: a coroutine that never waits
        return 1

    async def handler():
        seen.append(await publish())

    assert eager.start(handler()) is None
    assert seen == [1]


async def test_exceptions_of_an_inline_run_propagate():
    """An error raised before the first wait comes out of start() itself."""
    async def boom():
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        eager.start(boom())


async def test_a_coroutine_that_waits_becomes_a_task_with_its_result_and_errors():
    """Futures, bare yields and exceptions after the first wait all behave as in a Task."""
    fut = asyncio.get_running_loop().create_future()

    async def waits():
        a = await fut
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return a + 1

    task = eager.start(waits())
    assert task is not None and not task.done()
    fut.set_result(41)
    assert await task == 42

    fut2 = asyncio.get_running_loop().create_future()

    async def fails_later():
        await fut2

    task = eager.start(fails_later())
    fut2.set_exception(KeyError("k"))
    with pytest.raises(KeyError):
        await task


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits():
    """wait_for's timeout reaches the coroutine as CancelledError, and its cleanup runs."""
    cleaned = []

    async def slow():
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(True)

    task = eager.start(slow())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(task, 0.01)
    assert cleaned == [True] and task.cancelled()
