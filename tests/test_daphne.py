"""The same ASGI app under daphne, the other ASGI server docs/deployment.md names:
the socket and the event stream, pushes from another process over Redis, an exact
resume, and what a client that stops reading meets there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from livebell import anotify
from tests.adversary import (
    CRASH_MARKERS,
    close_code,
    next_frame,
    open_ws,
    report,
    sample_rss,
    small_receive_buffer_socket,
    until_synced,
)
from tests.conftest import REDIS_URL, RUN_PREFIX, asession_cookie, require_redis
from tests.processes import DaphneServer, eventually
from tests.sse import open_stream

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.any_database,
    pytest.mark.timeout(120),
]

MIB = 1024 * 1024
STREAM_PATH = "/api/notifications/stream/"
# Its own prefix: no other test's server hears these pushes, nor these servers theirs.
LAYER = {
    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{RUN_PREFIX}daphne"},
}
# daphne's keepalive, short: a ping every PING_INTERVAL, the connection dropped when
# no pong came within PING_TIMEOUT (daphne checks every 2 s).
PING_INTERVAL = 2
PING_TIMEOUT = 3


def daphne(settings: Any, log_level: str = "INFO", **livebell: Any) -> DaphneServer:
    """daphne on the Redis layer this test process pushes through too."""
    require_redis()
    settings.CHANNEL_LAYERS = {"default": LAYER}
    return DaphneServer(
        LAYER,
        livebell={"MAX_SOCKETS_PER_USER": 1, **livebell},
        log_level=log_level,
        options=("--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)),
    )


@pytest.fixture
def server(settings: Any) -> Iterator[DaphneServer]:
    started = daphne(settings)
    yield started
    started.kill()


async def no_more_frames(ws: Any, within: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), within)


async def test_a_socket_syncs_gets_each_push_once_and_resumes_exactly(
    server: DaphneServer, amake_user: Any
) -> None:
    bob = await amake_user("bob")
    cookie = await asession_cookie(bob)
    ws = await open_ws(server, cookie)
    assert await next_frame(ws) == {"type": "synced", "last_id": 0, "unread_count": 0}
    [row] = await anotify(bob, "under daphne")
    frame = await next_frame(ws)
    assert frame["type"] == "notification" and frame["notification"]["id"] == row.pk
    assert frame["notification"]["verb"] == "under daphne" and frame["unread_count"] == 1
    await no_more_frames(ws)  # once
    await ws.close()

    missed = [(await anotify(bob, f"while away {i}"))[0].pk for i in range(3)]
    # MAX_SOCKETS_PER_USER is 1: the socket before left the user's count.
    again = await open_ws(server, cookie, query=f"last_id={row.pk}")
    caught_up = await until_synced(again)
    assert [f["notification"]["id"] for f in caught_up[:-1]] == missed
    assert caught_up[-1] == {"type": "synced", "last_id": missed[-1], "unread_count": 4}
    [live] = await anotify(bob, "after the resume")
    assert (await next_frame(again))["notification"]["id"] == live.pk
    await no_more_frames(again)
    await again.close()
    assert not any(marker in server.log() for marker in CRASH_MARKERS), server.log()


async def test_the_event_stream_carries_a_push_with_its_id(
    server: DaphneServer, amake_user: Any
) -> None:
    bob = await amake_user("bob")
    cookie = await asession_cookie(bob)
    stream = await open_stream(
        server.http + STREAM_PATH, {"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
    )
    assert stream.status == 200, stream.body
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["server"] == "daphne"
    [synced] = await stream.events_until("synced")
    assert synced.data == {"type": "synced", "last_id": 0, "unread_count": 0}
    [row] = await anotify(bob, "streamed by daphne")
    got = await stream.next_event()
    assert got is not None and got.id == str(row.pk)
    assert got.data["type"] == "notification" and got.data["notification"]["id"] == row.pk
    with pytest.raises(TimeoutError):
        await stream.next_event(timeout=0.5)  # once
    await stream.close()
    # Resumed by Last-Event-ID, as EventSource does.
    [missed] = await anotify(bob, "while the stream was down")
    again = await open_stream(
        server.http + STREAM_PATH,
        {"Cookie": cookie, "Sec-Fetch-Site": "same-origin", "Last-Event-ID": got.id},
    )
    caught_up = await again.events_until("synced")
    assert [e.id for e in caught_up] == [str(missed.pk), str(missed.pk)]
    assert caught_up[0].data["notification"]["id"] == missed.pk
    await again.close()


PUSHES = 400
PAD = "x" * 7000  # 400 pushes of 7 kB: 2.8 MB the client will not read
# daphne checks its keepalive every 2 s: the drop comes within this of the stall.
DROPPED_WITHIN = PING_INTERVAL + PING_TIMEOUT + 2 + 3


async def test_a_client_that_stops_reading_is_dropped_by_daphnes_keepalive_not_1013(
    settings: Any, amake_user: Any
) -> None:
    """daphne takes every frame at once into its own write buffer, however full it
    is (its ``send`` never waits), so a send never misses ``SEND_TIMEOUT_SECONDS``
    and livebell cannot close the socket with 1013. What ends it is daphne's
    keepalive: the ping waits behind the unread frames, no pong comes, and daphne
    drops the connection (1006, as docs/deployment.md says). Until then daphne
    holds what was pushed to the socket; then the socket leaves its user's count."""
    # The end of a socket on the client's side is a debug line.
    server = daphne(settings, log_level="DEBUG", SEND_TIMEOUT_SECONDS=1)
    try:
        bob = await amake_user("bob")
        cookie = await asession_cookie(bob)
        stalled = await open_ws(
            server, cookie, sock=small_receive_buffer_socket(server), max_queue=1, max_size=None
        )
        assert (await next_frame(stalled))["type"] == "synced"
        await asyncio.sleep(0.5)
        baseline = server.rss_bytes()
        done = False
        sampler = asyncio.create_task(sample_rss(server, lambda: done))
        for i in range(PUSHES):
            [last] = await anotify(bob, f"unread {i}", data={"pad": PAD})
        stalled_at = time.monotonic()
        await eventually(
            lambda: "socket ended code=1006" in server.log(),
            timeout=DROPPED_WITHIN + 10,
            what="daphne dropping the socket",
        )
        dropped_after = time.monotonic() - stalled_at
        done = True
        peak = await sampler
        log = server.log()
        code = await close_code(stalled, timeout=20)
        report(
            "daphne: a client stops reading, 400 pushes of 7 kB",
            {
                "pushed_MiB": round(PUSHES * len(PAD) / MIB, 1),
                "peak_growth_MiB": round((peak - baseline) / MIB, 1),
                "dropped_after_s": round(dropped_after, 1),
                "close_code": code,
            },
        )
        assert "reason=send_timeout" not in log and "code=1013" not in log, log
        assert dropped_after < DROPPED_WITHIN, f"dropped after {dropped_after:.1f}s"
        assert code == 1006, f"the client saw close code {code}"
        # Held: what was pushed (and little more), no longer than the keepalive.
        assert peak - baseline < PUSHES * len(PAD) + 20 * MIB
        assert not any(marker in log for marker in CRASH_MARKERS), log
        # MAX_SOCKETS_PER_USER is 1: the dropped socket left its user's count.
        fresh = await open_ws(server, cookie)
        assert (await next_frame(fresh)) == {
            "type": "synced", "last_id": last.pk, "unread_count": PUSHES,
        }  # fmt: skip
        await fresh.close()
    finally:
        server.kill()
