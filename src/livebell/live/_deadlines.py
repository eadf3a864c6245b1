"""Deadlines for awaits that almost never wait: one timer per event loop, not one per await.

``asyncio.timeout()`` arms a loop timer and cancels it around every await it
guards, which around every frame a socket sends showed in the server's profiles
of a broadcast and a reconnect storm (``docs/benchmarks.md``). Yet a send to a
client that reads never waits: the ASGI server's write buffer takes the frame at
once, and the deadline only matters for the few sends that do wait, for a client
that stopped reading. So :class:`deadline` only notes the deadline of the await
in progress (a dict entry), and one timer per loop, running while any such await
is in progress, cancels those past their deadline every :data:`TICK_SECONDS`.
"""

from __future__ import annotations

import asyncio
import weakref
from types import TracebackType

__all__ = ["TICK_SECONDS", "deadline"]

#: How late, at most, an await past its deadline is ended.
TICK_SECONDS = 0.1


class _Watch:
    """The tasks on one event loop awaiting under a deadline, and the timer that ends them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines: dict[asyncio.Task[object], float] = {}
        # Tasks cancelled for their deadline, each with its cancel count before that.
        self.expired: dict[asyncio.Task[object], int] = {}
        self.timer: asyncio.TimerHandle | None = None

    def tick(self) -> None:
        self.timer = None
        now = self.loop.time()
        for task, due in list(self.deadlines.items()):
            if due <= now and task not in self.expired:
                self.expired[task] = task.cancelling()
                task.cancel()
        if self.deadlines:
            self.timer = self.loop.call_later(TICK_SECONDS, self.tick)


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = weakref.WeakKeyDictionary()


class deadline:
    """``with deadline(seconds): await …`` — the await may take at most ``seconds``.

    What ``async with asyncio.timeout(seconds)`` does for an await in the current
    task, at the cost of a dict entry when the await does not wait. An await past
    its deadline is cancelled within :data:`TICK_SECONDS` after it, and the
    ``with`` raises :class:`TimeoutError`. A plain ``with``: entering and leaving
    never wait.
    """

    __slots__ = ("_outer", "_seconds", "_task", "_watch")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("livebell: a deadline needs a running task")
        watch = _watches.get(loop)
        if watch is None:
            watch = _watches[loop] = _Watch(loop)
        self._watch, self._task = watch, task
        # A deadline inside a deadline (same task): the outer one is put back after.
        self._outer = watch.deadlines.get(task)
        watch.deadlines[task] = loop.time() + self._seconds
        if watch.timer is None:
            watch.timer = loop.call_later(TICK_SECONDS, watch.tick)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        watch, task = self._watch, self._task
        if self._outer is None:
            del watch.deadlines[task]
        else:
            watch.deadlines[task] = self._outer
        if watch.expired:
            cancelling = watch.expired.pop(task, None)
            # Ours, unless the task was also cancelled by someone else meanwhile.
            if (
                cancelling is not None
                and kind is asyncio.CancelledError
                and task.uncancel() <= cancelling
            ):
                raise TimeoutError from exc
