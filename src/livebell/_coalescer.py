"""Sharing Channels' one database thread among the callers waiting for it.

Private machinery of three concepts: the socket's user (:mod:`livebell.auth`),
catch-ups (:mod:`livebell.storage.catchup`) and the group commit of ``anotify()``
(:mod:`livebell.sending`).

Channels runs database work in a single thread (``database_sync_to_async``),
one call at a time. When thousands of sockets connect at once, each call pays
its own thread hop, connection health check and wait for the GIL. A
:class:`Coalescer` instead hands the thread *every* call waiting at that moment
as one batch; while the batch runs, the next one gathers. A lone call goes at
once, so nothing waits for a timer.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

__all__ = ["Coalescer"]

Request = TypeVar("Request")
Result = TypeVar("Result")


class Coalescer(Generic[Request, Result]):
    """Runs ``run_batch(requests) -> results`` (same order) for concurrent callers.

    ``run_batch`` runs in the database thread; an exception it raises is raised
    to every caller of that batch. State is kept per event loop.
    """

    def __init__(
        self, run_batch: Callable[[Sequence[Request]], list[Result]], *, max_batch: int
    ) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self._queues: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _Queue[Request, Result]
        ] = weakref.WeakKeyDictionary()

    async def __call__(self, request: Request) -> Result:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue(self)
        return await queue.submit(request)


class _Queue(Generic[Request, Result]):
    def __init__(self, owner: Coalescer[Request, Result]) -> None:
        self.owner = owner
        self.waiting: list[tuple[Request, asyncio.Future[Result]]] = []
        self.draining = False
        # Held so the event loop's weak reference is not the only one.
        self.drainer: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if not self.draining:
            self.draining = True
            self.drainer = asyncio.create_task(self._drain(), name="livebell-coalescer")
        return await future

    async def _drain(self) -> None:
        size = self.owner.max_batch
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:size], self.waiting[size:]
                try:
                    results = await database_sync_to_async(self.owner.run_batch)(
                        [request for request, _ in batch]
                    )
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # its caller may have been cancelled meanwhile
                        future.set_result(result)
        finally:
            self.draining = False
