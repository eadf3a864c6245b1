"""Send deadlines: one timer per event loop ends only the awaits past their deadline."""

from __future__ import annotations

import asyncio

import pytest

from livebell.live._deadlines import TICK_SECONDS, _watches, deadline


async def test_an_await_past_its_deadline_raises_timeout_error_soon_after() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError), deadline(0.2):
        await asyncio.Event().wait()
    assert 0.2 <= loop.time() - started < 0.2 + TICK_SECONDS + 0.1
    # The task is not left cancelled: it goes on awaiting.
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_an_await_in_time_and_one_that_never_waits_are_left_alone() -> None:
    async def done_at_once() -> int:
        return 7

    with deadline(0.05):
        assert await done_at_once() == 7
    with deadline(0.3):
        await asyncio.sleep(0.15)  # past a tick, before its deadline
    await asyncio.sleep(0.3)  # no late cancel of a deadline that was left
    # With no await under a deadline, the loop's timer has stopped.
    assert _watches[asyncio.get_running_loop()].timer is None


async def test_a_cancel_from_outside_stays_a_cancel() -> None:
    async def waits() -> None:
        with deadline(5):
            await asyncio.Event().wait()

    task = asyncio.create_task(waits())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_deadlines_of_many_tasks_end_only_the_late_ones() -> None:
    async def waits(seconds: float, deadline_seconds: float) -> str:
        try:
            with deadline(deadline_seconds):
                await asyncio.sleep(seconds)
        except TimeoutError:
            return "late"
        return "in time"

    results = await asyncio.gather(
        waits(0.05, 1.0), waits(1.0, 0.1), waits(0.2, 0.5), waits(5.0, 0.3)
    )
    assert results == ["in time", "late", "in time", "late"]


async def test_an_inner_deadline_leaves_the_outer_one_in_force() -> None:
    with pytest.raises(TimeoutError), deadline(0.3):
        with deadline(5):
            await asyncio.sleep(0.01)
        await asyncio.Event().wait()
