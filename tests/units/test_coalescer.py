"""The coalescer: concurrent callers share one trip to the database thread."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livebell._coalescer import Coalescer

# A coalescer runs its batches in Channels' database thread, which checks the thread's
# database connections before and after each call: the tests need the database allowed.
_database_thread = pytest.mark.django_db


@_database_thread
async def test_the_coalescer_batches_whoever_waits_and_a_lone_call_goes_at_once() -> None:
    batches: list[list[int]] = []

    def double(requests: Any) -> list[int]:
        batches.append(list(requests))
        return [2 * r for r in requests]

    coalescer: Coalescer[int, int] = Coalescer(double, max_batch=3)
    assert await coalescer(5) == 10
    assert batches == [[5]]
    results = await asyncio.gather(*(coalescer(i) for i in range(7)))
    assert results == [2 * i for i in range(7)]
    # Everyone waiting when the thread is free goes in one batch, at most 3 at a time.
    assert batches[1:] == [[0, 1, 2], [3, 4, 5], [6]]


@_database_thread
async def test_a_failed_batch_fails_its_callers_and_the_next_batch_runs() -> None:
    def fail_on_13(requests: Any) -> list[int]:
        if 13 in requests:
            raise RuntimeError("unlucky")
        return list(requests)

    coalescer: Coalescer[int, int] = Coalescer(fail_on_13, max_batch=10)
    outcomes = await asyncio.gather(coalescer(1), coalescer(13), return_exceptions=True)
    assert isinstance(outcomes[1], RuntimeError)
    assert await coalescer(2) == 2


@_database_thread
async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    def identity(requests: Any) -> list[int]:
        return list(requests)

    coalescer: Coalescer[int, int] = Coalescer(identity, max_batch=10)
    first = asyncio.ensure_future(coalescer(1))
    second = asyncio.ensure_future(coalescer(2))
    await asyncio.sleep(0)
    second.cancel()
    assert await first == 1
    assert await coalescer(3) == 3
