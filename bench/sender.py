"""The sender: an agent process that creates notifications the way each target's users would.

Started by the bench as ``python -m bench.sender --target livebell|reference|raw|openwisp``
with that target's settings in the environment (openwisp's in the peers'
interpreter, :mod:`bench.peers`); commands (see :mod:`bench.agent`):

- ``init``: the ids of the users whose sockets are connected.
- ``broadcast``: ``count`` messages to every one of those users.
- ``targeted``: ``count`` messages, each to one user picked at random, from
  synchronous code (``mode="sync"``), from one event loop one after another
  (``mode="async"``), or from one event loop with up to ``concurrency`` calls in
  flight (``mode="concurrent"``).
- ``missed``: ``count`` messages to each of the given users, whose sockets are
  closed (the reconnect storm, W4); replies with the ids stored for each user.

``broadcast`` and ``targeted`` pace themselves at ``rate`` messages per second
(``None``: back to back), stop at ``seconds``, and stamp each message with the
bench's marker carrying the time it was *scheduled*, so a sender that falls behind
shows up in the latencies.

Each target is a :class:`Backend`; the pacing, timing and reporting are shared.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import time
from collections.abc import Iterator
from typing import Any

from bench.agent import Reply, serve
from bench.stats import Marker, make_marker, marker_text, now_ns

__all__ = [
    "Backend",
    "DjangoBackend",
    "LivebellBackend",
    "OpenwispBackend",
    "RawBackend",
    "ReferenceBackend",
    "main",
]

VERB = "bench"


class Backend:
    """How one target sends: to everybody, to one user, and the same from async code."""

    user_ids: list[Any]

    def init(self, user_ids: list[Any]) -> None:
        self.user_ids = user_ids

    def broadcast(self, marker: Marker) -> None:
        raise NotImplementedError

    def targeted(self, index: int, marker: Marker) -> None:
        raise NotImplementedError

    async def atargeted(self, index: int, marker: Marker) -> None:
        raise NotImplementedError

    def to_each(self, user_ids: list[Any], marker: Marker) -> dict[str, Any]:
        """One message to each of ``user_ids``; the id stored for each (by user), if any."""
        raise NotImplementedError

    def release(self) -> None:
        """Close any database connection, so that its counters reach PostgreSQL's
        statistics before the bench reads them (see :mod:`bench.dbstats`)."""


def users_query(user_ids: list[Any]) -> Any:
    """The users as a QuerySet of the kind a site passes to ``notify()`` (its followers,
    a group's members): a few parameters, not one per user.

    Contiguous integer ids (the bench's fixtures) are a range; other ids (UUIDs) go as
    ``pk__in``, whose SQL Django builds and psycopg parses in Python at every call, a
    quarter of a 1,000-recipient ``notify()``'s time (py-spy).
    """
    from django.contrib.auth import get_user_model

    model = get_user_model()
    ordered = sorted(user_ids)
    if (
        ordered
        and all(isinstance(pk, int) for pk in ordered)
        and ordered == list(range(ordered[0], ordered[0] + len(ordered)))
    ):
        return model.objects.filter(pk__range=(ordered[0], ordered[-1]))
    return model.objects.filter(pk__in=user_ids)


class DjangoBackend(Backend):
    """A backend running in a configured Django project (livebell's or the reference's)."""

    def __init__(self) -> None:
        import django

        django.setup()

    def release(self) -> None:
        from django.db import connections

        connections.close_all()


class LivebellBackend(DjangoBackend):
    """Stored notifications through ``livebell.notify()`` / ``anotify()``.

    The sender stands for the site's process that calls ``notify()`` (the demo's views
    run in its ASGI process), so it runs with the garbage-collector setting that
    docs/deployment.md recommends for such processes and the demo's ``asgi.py`` makes.
    Without it, a full collection of this process (Django, the users, the layer: about
    75,000 objects) stalls a ``notify()`` to 1,000 users for 40-50 ms once in about a
    dozen calls (docs/benchmarks.md, "The garbage collector setting on the sender").
    """

    def __init__(self) -> None:
        super().__init__()
        gc.set_threshold(700, 10, 1000)

    def init(self, user_ids: list[Any]) -> None:
        super().init(user_ids)
        self.everybody = users_query(user_ids)
        by_id = {user.pk: user for user in self.everybody}
        self.users = [by_id[pk] for pk in user_ids]
        # Import and make the channel layer now, as the reference's backend does, not
        # in the first measured notify().
        from channels.layers import get_channel_layer

        from livebell.conf import livebell_settings

        get_channel_layer(livebell_settings.CHANNEL_LAYER)

    def broadcast(self, marker: Marker) -> None:
        from livebell import notify

        notify(self.everybody, VERB, data=dict(marker))

    def targeted(self, index: int, marker: Marker) -> None:
        from livebell import notify

        notify(self.users[index], VERB, data=dict(marker))

    async def atargeted(self, index: int, marker: Marker) -> None:
        from livebell import anotify

        await anotify(self.users[index], VERB, data=dict(marker))

    def to_each(self, user_ids: list[Any], marker: Marker) -> dict[str, Any]:
        """One ``notify()`` call: a row per user, inserted in batches, each pushed."""
        from livebell import notify

        users = users_query(user_ids)
        return {str(n.recipient_id): n.pk for n in notify(users, VERB, data=dict(marker))}


class ReferenceBackend(DjangoBackend):
    """The tutorial's push: ``group_send`` of a small JSON message; nothing stored."""

    def __init__(self) -> None:
        super().__init__()
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()

    @staticmethod
    def _event(marker: Marker) -> dict[str, Any]:
        from bench.reference.consumers import EVENT_TYPE

        return {"type": EVENT_TYPE, "message": {"verb": VERB, **marker}}

    def broadcast(self, marker: Marker) -> None:
        from asgiref.sync import async_to_sync

        from bench.reference.consumers import BROADCAST_GROUP

        async_to_sync(self.layer.group_send)(BROADCAST_GROUP, self._event(marker))

    def targeted(self, index: int, marker: Marker) -> None:
        from asgiref.sync import async_to_sync

        from bench.reference.consumers import user_group

        group = user_group(self.user_ids[index])
        async_to_sync(self.layer.group_send)(group, self._event(marker))

    async def atargeted(self, index: int, marker: Marker) -> None:
        from bench.reference.consumers import user_group

        await self.layer.group_send(user_group(self.user_ids[index]), self._event(marker))

    def to_each(self, user_ids: list[Any], marker: Marker) -> dict[str, Any]:
        """The tutorial's broadcast (every user is in its one group); nothing is stored."""
        self.broadcast(marker)
        return {}


class OpenwispBackend(DjangoBackend):
    """openwisp-notifications' ``notify`` signal, as its documentation sends.

    Its handler saves one row per recipient; each save's ``post_save`` handlers
    count the recipient's unread notifications and ``group_send`` the rendered
    notification to the recipient's group, from the calling thread. It has no
    async API: async code calls it through ``sync_to_async``, as an async view would.
    The marker travels as text in the notification's data, which the bench's
    notification type renders as its message (:mod:`bench.peers.openwisp.apps`).
    """

    def init(self, user_ids: list[Any]) -> None:
        super().init(user_ids)
        self.everybody = users_query(user_ids)
        by_id = {str(user.pk): user for user in self.everybody}
        self.users = [by_id[str(pk)] for pk in user_ids]
        # Every notification needs an actor.
        self.actor = self.users[0]

    def _send(self, recipient: Any, marker: Marker) -> list[Any]:
        from openwisp_notifications.signals import notify

        from bench.peers.openwisp.apps import MARKER_KEY, NOTIFICATION_TYPE

        replies = notify.send(
            sender=self.actor,
            type=NOTIFICATION_TYPE,
            recipient=recipient,
            **{MARKER_KEY: marker_text(marker)},
        )
        return [row for _, rows in replies for row in rows or ()]

    def broadcast(self, marker: Marker) -> None:
        self._send(self.everybody, marker)

    def targeted(self, index: int, marker: Marker) -> None:
        self._send(self.users[index], marker)

    async def atargeted(self, index: int, marker: Marker) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self._send)(self.users[index], marker)


class RawBackend(Backend):
    """A bare Redis PUBLISH, read by :mod:`bench.raw_server`."""

    def __init__(self) -> None:
        import redis

        self.url = os.environ["REDIS_URL"]
        self.redis = redis.Redis.from_url(self.url)
        self._aredis: Any = None
        self._aredis_loop: asyncio.AbstractEventLoop | None = None

    def _async_redis(self) -> Any:
        """An asyncio client for the running loop (each async phase runs its own loop)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        if self._aredis_loop is not loop:
            self._aredis = redis.asyncio.Redis.from_url(self.url)
            self._aredis_loop = loop
        return self._aredis

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        import orjson

        self.redis.publish(channel, orjson.dumps(message))

    def broadcast(self, marker: Marker) -> None:
        from bench.raw_server import BROADCAST_CHANNEL

        self.publish(BROADCAST_CHANNEL, dict(marker))

    def targeted(self, index: int, marker: Marker) -> None:
        from bench.raw_server import user_channel

        self.publish(user_channel(self.user_ids[index]), dict(marker))

    async def atargeted(self, index: int, marker: Marker) -> None:
        import orjson

        from bench.raw_server import user_channel

        await self._async_redis().publish(user_channel(self.user_ids[index]), orjson.dumps(marker))

    def burst(self, phase: int, frames: int) -> None:
        """Ask the raw server to send ``frames`` frames to every socket at once."""
        from bench.raw_server import BROADCAST_CHANNEL

        self.publish(BROADCAST_CHANNEL, {**make_marker(phase, now_ns()), "burst": frames})


BACKENDS: dict[str, type[Backend]] = {
    "livebell": LivebellBackend,
    "reference": ReferenceBackend,
    "raw": RawBackend,
    "openwisp": OpenwispBackend,
}


def schedule(count: int, rate: float | None, seconds: float) -> Iterator[int]:
    """Yield the planned send time (monotonic ns) of up to ``count`` messages.

    At ``rate`` per second the plan is fixed in advance (the caller is expected to
    sleep until each time); with no rate each message is planned "now". Stops
    early once ``seconds`` have passed.
    """
    start = now_ns()
    deadline = start + int(seconds * 1e9)
    interval = int(1e9 / rate) if rate else 0
    for i in range(count):
        planned = start + i * interval if rate else now_ns()
        if planned > deadline or now_ns() > deadline:
            return
        yield planned


def _report(sent: int, start_ns: int) -> Reply:
    return {"sent": sent, "first_ns": start_ns, "seconds": (now_ns() - start_ns) / 1e9}


class Sender:
    """The agent's commands, over one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def init(self, *, user_ids: list[Any]) -> Reply:
        self.backend.init(user_ids)
        return {"users": len(user_ids)}

    def broadcast(self, *, phase: int, count: int, rate: float | None, seconds: float) -> Reply:
        start, sent = now_ns(), 0
        for planned in schedule(count, rate, seconds):
            _sleep_until(planned)
            self.backend.broadcast(make_marker(phase, planned))
            sent += 1
        return _report(sent, start)

    def targeted(
        self,
        *,
        phase: int,
        count: int,
        rate: float | None,
        seconds: float,
        mode: str = "sync",
        concurrency: int = 1,
        seed: int = 0,
    ) -> Reply:
        picks = random.Random(seed)
        if mode == "async":
            return asyncio.run(self._atargeted(phase, count, rate, seconds, picks))
        if mode == "concurrent":
            return asyncio.run(self._aconcurrent(phase, count, rate, seconds, picks, concurrency))
        n = len(self.backend.user_ids)
        start, sent = now_ns(), 0
        for planned in schedule(count, rate, seconds):
            _sleep_until(planned)
            self.backend.targeted(picks.randrange(n), make_marker(phase, planned))
            sent += 1
        return _report(sent, start)

    async def _atargeted(
        self, phase: int, count: int, rate: float | None, seconds: float, picks: random.Random
    ) -> Reply:
        start, sent = now_ns(), 0
        n = len(self.backend.user_ids)
        for planned in schedule(count, rate, seconds):
            delay = (planned - now_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            await self.backend.atargeted(picks.randrange(n), make_marker(phase, planned))
            sent += 1
        return _report(sent, start)

    async def _aconcurrent(
        self,
        phase: int,
        count: int,
        rate: float | None,
        seconds: float,
        picks: random.Random,
        concurrency: int,
    ) -> Reply:
        """Like ``_atargeted``, but each message is its own task, at most ``concurrency``
        in flight: many requests of an ASGI site calling at once. A message whose
        turn comes while all slots are busy waits, and its latency shows it."""
        start, sent = now_ns(), 0
        n = len(self.backend.user_ids)
        slots = asyncio.Semaphore(concurrency)
        running: set[asyncio.Task[None]] = set()

        async def one(index: int, marker: Marker) -> None:
            try:
                await self.backend.atargeted(index, marker)
            finally:
                slots.release()

        for planned in schedule(count, rate, seconds):
            delay = (planned - now_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(one(picks.randrange(n), make_marker(phase, planned)))
            running.add(task)
            task.add_done_callback(running.discard)
            sent += 1
        await asyncio.gather(*running)
        return _report(sent, start)

    def missed(self, *, phase: int, count: int, user_ids: list[Any]) -> Reply:
        """``count`` messages to each of ``user_ids``, back to back, while they are away.

        Replies with ``ids``: for each user (as a string), the ids stored for them in
        order (empty for a target that stores nothing). Then closes this process's
        database connection, so that the bench can read the database's counters.
        """
        # A fresh connection too: reading the counters of another target's W4 ended
        # every connection of the run, this process's included.
        self.backend.release()
        start = now_ns()
        ids: dict[str, list[Any]] = {}
        for _ in range(count):
            for user, pk in self.backend.to_each(user_ids, make_marker(phase, now_ns())).items():
                ids.setdefault(user, []).append(pk)
        self.backend.release()
        return {**_report(count, start), "ids": ids}

    def burst(self, *, phase: int, frames: int, seconds: float) -> Reply:
        if not isinstance(self.backend, RawBackend):
            raise TypeError("only the raw target can burst")
        start = now_ns()
        self.backend.burst(phase, frames)
        return _report(1, start)


def _sleep_until(planned_ns: int) -> None:
    delay = (planned_ns - now_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", choices=sorted(BACKENDS), required=True)
    args = parser.parse_args(argv)
    sender = Sender(BACKENDS[args.target]())
    serve(
        {
            "init": sender.init,
            "broadcast": sender.broadcast,
            "targeted": sender.targeted,
            "missed": sender.missed,
            "burst": sender.burst,
        }
    )


if __name__ == "__main__":
    main()
