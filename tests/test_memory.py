"""What one socket can make a real server hold is bounded (defect 1 of the hardening issue).

The attack: a client asks for large catch-ups (more than the kernel's socket
buffers hold) and stops reading, so the server's sends block, and meanwhile it
sends large frames as fast as TCP takes them. Before, the consumer read every
frame into an unbounded mailbox while its sends waited (the server held what the
client sent: +115 MB for 100 MB, +63 MB after it left). Now it reads a few
frames ahead only, so TCP holds the client back, and the send that does not
complete within ``SEND_TIMEOUT_SECONDS`` closes the socket with 1013 — a close
the client reads once it reads again (before, the close frame was given up on
while the server's buffer was full: the client saw the connection drop, or the
server's keepalive timeout, 1011).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from asgiref.sync import sync_to_async

from tests.adversary import (
    CRASH_MARKERS,
    close_code,
    open_ws,
    report,
    sample_rss,
    seed_notifications,
    small_receive_buffer_socket,
)
from tests.conftest import session_cookie
from tests.processes import WS_MAX_SIZE, AsgiServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.any_database,
    pytest.mark.timeout(120),
]

MIB = 1024 * 1024
SEND_TIMEOUT = 3.0
ATTACK_BYTES = 100 * MIB
# Frames just under the transport's cap: the most a frame can carry.
FRAME = b"x" * (WS_MAX_SIZE - 1024)
HELD_AT_MOST = 40 * MIB


@pytest.fixture
def server() -> Iterator[AsgiServer]:
    started = AsgiServer(
        {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        livebell={"SEND_TIMEOUT_SECONDS": SEND_TIMEOUT},
        log_level="INFO",
    )
    yield started
    started.kill()


async def test_a_client_that_stops_reading_cannot_pin_memory(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    # A catch-up of 500 notifications of 7 kB each: 3.5 MB the client will not read.
    await sync_to_async(seed_notifications)(bob, 500, data_bytes=7000)
    cookie = await sync_to_async(session_cookie)(bob)
    await asyncio.sleep(0.5)
    baseline = server.rss_bytes()

    ws = await open_ws(
        server,
        cookie,
        query="last_id=0",
        sock=small_receive_buffer_socket(server),
        max_queue=1,  # the client library stops reading after one frame
        max_size=None,
    )
    sent = 0
    blocked_at: float | None = None
    started = time.monotonic()
    done = False
    sampler = asyncio.create_task(sample_rss(server, lambda: done))
    text = FRAME.decode()
    try:
        # Two more catch-ups of 3.5 MB: more than the kernel's buffers take.
        for _ in range(2):
            await ws.send('{"type": "resume", "last_id": 0}')
        while sent < ATTACK_BYTES:
            try:
                await asyncio.wait_for(ws.send(text), 2)
            except TimeoutError:
                # TCP holds the client back: the server stopped reading.
                blocked_at = time.monotonic()
                break
            sent += len(FRAME)
    except websockets.ConnectionClosed:
        pass
    # The server gives up on the socket once its send has waited SEND_TIMEOUT.
    await asyncio.sleep(SEND_TIMEOUT + 2)
    done = True
    peak = await sampler
    log = server.log()
    # The client reads again: past what was sent before, it finds why it was closed.
    code = await close_code(ws, timeout=60)
    ws.transport.abort()  # the attacker leaves
    await asyncio.sleep(1.0)
    after = server.rss_bytes()

    report(
        "memory: client stops reading and sends 64 KiB frames",
        {
            "sent_MiB": round(sent / MIB, 1),
            "baseline_MiB": round(baseline / MIB, 1),
            "peak_growth_MiB": round((peak - baseline) / MIB, 1),
            "after_close_growth_MiB": round((after - baseline) / MIB, 1),
            "seconds_until_held_back": round((blocked_at or time.monotonic()) - started, 2),
        },
    )
    assert blocked_at is not None, f"the server read all {sent / MIB:.0f} MiB the client sent"
    assert sent < 10 * MIB, f"the server read {sent / MIB:.0f} MiB ahead of what it handled"
    assert peak - baseline < HELD_AT_MOST, f"the server held {(peak - baseline) / MIB:.0f} MiB"
    assert "code=1013 reason=send_timeout" in log, log
    assert code == 1013, f"the client saw close code {code}"
    assert not any(marker in log for marker in CRASH_MARKERS), log

    # The server goes on serving others.
    fresh = await open_ws(server, cookie)
    assert '"synced"' in await asyncio.wait_for(fresh.recv(), 5)
    await fresh.close()


@pytest.fixture
def default_server() -> Iterator[AsgiServer]:
    started = AsgiServer({"BACKEND": "channels.layers.InMemoryChannelLayer"}, log_level="INFO")
    yield started
    started.kill()


@pytest.mark.timeout(240)
async def test_a_tab_that_never_reads_while_another_toggles_for_30_s_reads_1013(
    default_server: AsgiServer, make_user: Any
) -> None:
    """The hardening issue's case, with the default settings and uvicorn's keepalive:
    one tab stops reading while its user's other tab toggles 1,000 ids read and unread
    over REST for 30 s. The server gives up on the stalled socket after
    ``SEND_TIMEOUT_SECONDS``; when the tab reads again, it finds 1013 (try again
    later), not 1011 (the keepalive's internal error)."""
    from tests.test_hardening import make_token, rest

    server = default_server
    bob = await sync_to_async(make_user)("bob")
    ids = await sync_to_async(seed_notifications)(bob, 1000)
    cookie = await sync_to_async(session_cookie)(bob)
    token = await sync_to_async(make_token)(bob)
    stalled = await open_ws(
        server, cookie, sock=small_receive_buffer_socket(server), max_queue=1, max_size=None
    )
    body = orjson.dumps({"ids": ids})
    toggles = 0
    started = time.monotonic()
    try:
        # 30 s of toggles, as filed; on a slow machine, on until the frames they send
        # fill the buffers between the server and the tab, which is what stalls it.
        while time.monotonic() - started < 30 or (
            "reason=send_timeout" not in server.log() and time.monotonic() - started < 90
        ):
            for path in ("/api/notifications/mark-read/", "/api/notifications/mark-unread/"):
                status, _, _ = await asyncio.to_thread(rest, server, "POST", path, token, body)
                assert status == 200
                toggles += 1
        code = await close_code(stalled, timeout=60)
    finally:
        stalled.transport.abort()
    log = server.log()
    report(
        "a tab that never reads while another toggles",
        {"toggles": toggles, "seconds": round(time.monotonic() - started), "close_code": code},
    )
    assert "code=1013 reason=send_timeout" in log, log
    assert code == 1013, f"the client saw close code {code}"
    assert not any(marker in log for marker in CRASH_MARKERS), log


STREAM_PUSHES = 1500
STREAM_PAD = "x" * 7000  # 1,500 pushes of 7 kB: 10 MB the reader will not read


@pytest.mark.timeout(150)
async def test_a_stream_whose_reader_stops_reading_is_ended_and_holds_little(
    make_user: Any, settings: Any
) -> None:
    """The event stream's outbox and send deadline: a reader that stops reading has
    its session ended with ``send_timeout`` (1013) once an event could not wait for
    ``SEND_TIMEOUT_SECONDS``; it leaves its user's count while its connection stays;
    what the server holds meanwhile is bounded, and the reader that reads again
    finds what was queued before, in order, then the close event, then the end of
    the response (docs/protocol.md, "Server-Sent Events")."""
    from livebell import anotify
    from tests.conftest import REDIS_URL, RUN_PREFIX, asession_cookie, require_redis
    from tests.processes import eventually
    from tests.sse import open_stream

    require_redis()
    layer = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{RUN_PREFIX}stalledstream"},
    }
    settings.CHANNEL_LAYERS = {"default": layer}
    server = AsgiServer(
        layer,
        livebell={"SEND_TIMEOUT_SECONDS": 1, "MAX_SOCKETS_PER_USER": 1},
        log_level="INFO",
    )
    try:
        bob = await sync_to_async(make_user)("bob")
        cookie = await asession_cookie(bob)
        url = server.http + "/api/notifications/stream/"
        headers = {"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
        stalled = await open_stream(url, headers, sock=small_receive_buffer_socket(server))
        assert stalled.status == 200
        await stalled.events_until("synced")
        await asyncio.sleep(0.5)
        baseline = server.rss_bytes()
        done = False
        sampler = asyncio.create_task(sample_rss(server, lambda: done))
        pushed: list[int] = []
        closed_after: int | None = None
        for i in range(STREAM_PUSHES):
            [row] = await anotify(bob, f"unread {i}", data={"pad": STREAM_PAD})
            pushed.append(row.pk)
            if closed_after is None and "reason=send_timeout" in server.log():
                closed_after = i + 1
        await eventually(
            lambda: "stream closed code=1013 reason=send_timeout" in server.log(),
            what="the stalled stream's session ending",
        )
        done = True
        peak = await sampler
        log = server.log()
        report(
            "memory: a stream's reader stops reading, 1,500 pushes of 7 kB",
            {
                "pushed_MiB": round(STREAM_PUSHES * len(STREAM_PAD) / MIB, 1),
                "closed_after_pushes": closed_after,
                "peak_growth_MiB": round((peak - baseline) / MIB, 1),
            },
        )
        assert peak - baseline < 20 * MIB, f"the server held {(peak - baseline) / MIB:.0f} MiB"
        assert not any(marker in log for marker in CRASH_MARKERS), log
        # The stalled connection is still open, but its session left the user's count
        # (MAX_SOCKETS_PER_USER is 1): another stream is served.
        fresh = await open_stream(url, headers)
        [synced] = await fresh.events_until("synced")
        assert synced.data["last_id"] == pushed[-1]
        await fresh.close()

        # The reader reads again: what was queued, in order and from the first push
        # on, then why it ended, then the end of the response.
        events = await stalled.events_until("close", timeout=60)
        assert events[-1].data == {"type": "close", "code": 1013, "reason": "send_timeout"}
        got = [e.data["notification"]["id"] for e in events[:-1]]
        assert got == pushed[: len(got)] and 0 < len(got) < len(pushed)
        assert await stalled.next_event(timeout=10) is None
        await stalled.close()
    finally:
        server.kill()
