"""Two senders contending for one recipient, on real processes and a real database.

The schedule of issue 9: bob's socket is open. Process A stores "slow" inside a
transaction and keeps it open for 3 s; one second later process B sends "fast",
waits for A's lock, and commits right after A. Bob's socket must get both, in id
order, exactly once, with the unread count that was true when each was stored —
whichever of the two pushes reaches the server first.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.client import connect

from tests.conftest import REDIS_URL, RUN_PREFIX, session_cookie
from tests.locks import POLL_SECONDS, lock_waiters
from tests.processes import ROOT, AsgiServer, child_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

LAYER = {
    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "CONFIG": {"hosts": [REDIS_URL], "prefix": RUN_PREFIX},
}
HOLD_SECONDS = 3.0


def _isolation_levels() -> list[str | None]:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("mysql"):
        return ["read committed", "repeatable read"]
    return [None]


@pytest.fixture(params=_isolation_levels())
def isolation(request: pytest.FixtureRequest) -> str | None:
    """On MariaDB, both Django's default (READ COMMITTED) and InnoDB's (REPEATABLE READ)."""
    level: str | None = request.param
    return level


def start_sender(isolation: str | None, *args: str, stdin: Any = None) -> subprocess.Popen[str]:
    env = child_env(LAYER)
    if isolation is not None:
        env["LIVEBELL_TEST_MYSQL_ISOLATION"] = isolation
    return subprocess.Popen(
        [sys.executable, "-m", "tests.contender", *args],
        env=env,
        cwd=ROOT,
        stdin=stdin,
        stdout=subprocess.PIPE,
        text=True,
    )


def next_event(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"sender exited with {process.wait()} before reporting"
    event: dict[str, Any] = json.loads(line)
    return event


async def test_a_notification_committed_late_is_not_lost_to_an_open_socket(
    make_user: Any, redis_required: None, isolation: str | None
) -> None:
    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    server = await asyncio.to_thread(AsgiServer, LAYER)
    frames: list[dict[str, Any]] = []
    senders: list[subprocess.Popen[str]] = []
    try:
        async with connect(
            server.url, additional_headers={"Origin": server.origin, "Cookie": cookie}
        ) as socket:
            synced = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert synced["type"] == "synced" and synced["unread_count"] == 0

            async def read_frames() -> None:
                async for raw in socket:
                    frames.append(json.loads(raw))

            reader = asyncio.create_task(read_frames())
            fast_sender = start_sender(isolation, "send", "bob", "fast", stdin=subprocess.PIPE)
            senders.append(fast_sender)
            assert (await asyncio.to_thread(next_event, fast_sender))["ready"]
            slow_sender = start_sender(isolation, "hold", "bob", "slow", str(HOLD_SECONDS))
            senders.append(slow_sender)
            slow_id = (await asyncio.to_thread(next_event, slow_sender))["stored"]
            await asyncio.sleep(1.0)
            assert fast_sender.stdin is not None
            fast_sender.stdin.write("go\n")
            fast_sender.stdin.flush()

            # While A holds its transaction, B really waits for A's lock.
            waited = 0
            deadline = time.monotonic() + HOLD_SECONDS
            while fast_sender.poll() is None and time.monotonic() < deadline:
                waited = max(waited, await sync_to_async(lock_waiters)())
                await asyncio.sleep(POLL_SECONDS)
            fast = await asyncio.to_thread(next_event, fast_sender)
            assert (await asyncio.to_thread(next_event, slow_sender))["committed"] == slow_id
            fast_id = fast["committed"]
            assert fast_id > slow_id
            # B started one second into A's three: it waited about two seconds.
            assert fast["elapsed"] > HOLD_SECONDS - 1.0 - 0.5, fast
            if connection.vendor != "sqlite":
                assert waited >= 1, f"B never waited for a lock: {fast}"

            # Give both pushes time to arrive, whichever order they travel in.
            await asyncio.sleep(1.5)
            reader.cancel()
    finally:
        await asyncio.to_thread(server.kill)
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
            sender.wait()
            for stream in (sender.stdin, sender.stdout):
                if stream is not None:
                    stream.close()

    notifications = [f for f in frames if f["type"] == "notification"]
    assert [f["notification"]["verb"] for f in notifications] == ["slow", "fast"], frames
    assert [f["notification"]["id"] for f in notifications] == [slow_id, fast_id]
    # "fast" was stored second: two unread. "slow" shows 1 if pushed live first, or the
    # count at the time of the catch-up (2) if "fast" arrived first and revealed the gap.
    assert notifications[1]["unread_count"] == 2, frames
    assert notifications[0]["unread_count"] in (1, 2), frames
    assert frames[-1]["unread_count"] == 2, frames


@pytest.mark.parametrize("ended_mutes", [0, 30])
def test_concurrent_mutes_stop_at_the_cap(
    make_user: Any, isolation: str | None, ended_mutes: int
) -> None:
    """40 mutes at once (4 processes of 10 threads, each its own connection) for a
    user with 999 live mutes (and some ended ones, which do not count): exactly one
    gets in."""
    from datetime import timedelta

    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from livebell.models import Mute
    from livebell.mutes import MAX_MUTES
    from tests.testapp.models import Post

    bob = make_user("bob")
    post_type = ContentType.objects.get_for_model(Post)
    ended = timezone.now() - timedelta(days=1)
    Mute.objects.bulk_create(
        [Mute(user=bob, target_content_type=post_type, target_object_id=f"live{i}")
         for i in range(MAX_MUTES - 1)]
        + [Mute(user=bob, target_content_type=post_type, target_object_id=f"ended{i}",
                until=ended) for i in range(ended_mutes)]
    )  # fmt: skip
    processes = [
        start_sender(isolation, "mute", "bob", str(1000 * p), "10", stdin=subprocess.PIPE)
        for p in range(4)
    ]
    try:
        for process in processes:
            assert next_event(process) == {"ready": True}
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = [o for process in processes for o in next_event(process)["outcomes"]]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
    assert sorted(set(outcomes)) == ["muted", "refused"], outcomes
    assert outcomes.count("muted") == 1, outcomes
    assert Mute.objects.filter(user=bob).count() == MAX_MUTES  # the ended ones are gone
