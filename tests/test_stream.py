"""The event stream (livebell.live.stream) against a real uvicorn: real HTTP, real sessions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from livebell import anotify
from livebell.live import tickets
from tests.conftest import asession_cookie
from tests.sse import Stream, open_stream

pytestmark = [pytest.mark.django_db(transaction=True)]

PATH = "/api/notifications/stream/"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


async def stream_for(url: str, cookie: str, **headers: str) -> Stream:
    stream = await open_stream(url + PATH, {"Cookie": cookie, **SAME_ORIGIN, **headers})
    assert stream.status == 200, stream.body
    return stream


def ids(events: list[Any]) -> list[int]:
    return [e.data["notification"]["id"] for e in events if e.data["type"] == "notification"]


async def test_notifications_arrive_as_events_with_their_ids(
    live_server_url: str, amake_user: Any
) -> None:
    bob = await amake_user("bob")
    stream = await stream_for(live_server_url, await asession_cookie(bob))
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "no-cache" in stream.headers["cache-control"]
    [synced] = await stream.events_until("synced")
    assert synced.data == {"type": "synced", "last_id": 0, "unread_count": 0}
    assert stream.retry is not None and stream.retry > 0
    [row] = await anotify(bob, "hello")
    got = await stream.next_event()
    assert got is not None and got.id == str(row.pk)
    assert got.data["type"] == "notification" and got.data["unread_count"] == 1
    assert got.data["notification"]["verb"] == "hello"
    # A frame without an id leaves the last id as it was (no id: line).
    from livebell import inbox

    await inbox.amark_read(bob, [row.pk])
    read = await stream.next_event()
    assert read is not None and read.id is None and read.data["type"] == "read"
    await stream.close()


@pytest.mark.parametrize("how", ["Last-Event-ID", "last_id"])
async def test_a_dropped_stream_resumes_with_no_gap_and_no_duplicate(
    live_server_url: str, amake_user: Any, how: str
) -> None:
    bob = await amake_user("bob")
    cookie = await asession_cookie(bob)
    stream = await stream_for(live_server_url, cookie)
    await stream.events_until("synced")
    first = [(await anotify(bob, f"before {i}"))[0].pk for i in range(3)]
    received = [await stream.next_event() for _ in first]
    assert [e.id for e in received if e] == [str(pk) for pk in first]
    resume_from = stream.last_event_id
    await stream.close()  # the network drops the stream
    missed = [(await anotify(bob, f"while away {i}"))[0].pk for i in range(4)]
    if how == "Last-Event-ID":
        # As EventSource reconnects: the URL it was given first (an older last_id),
        # and the header, which wins.
        again = await open_stream(
            f"{live_server_url}{PATH}?last_id=0",
            {"Cookie": cookie, **SAME_ORIGIN, "Last-Event-ID": str(resume_from)},
        )
    else:
        again = await open_stream(
            f"{live_server_url}{PATH}?last_id={resume_from}", {"Cookie": cookie, **SAME_ORIGIN}
        )
    assert again.status == 200
    caught_up = await again.events_until("synced")
    assert ids(caught_up) == missed
    assert caught_up[-1].data["last_id"] == missed[-1] and caught_up[-1].id == str(missed[-1])
    [live] = await anotify(bob, "after")
    got = await again.next_event()
    assert got is not None and got.id == str(live.pk)
    await again.close()


async def test_heartbeats_keep_an_idle_stream_talking(
    live_server_url: str, amake_user: Any, settings: Any
) -> None:
    settings.LIVEBELL = {"STREAM_HEARTBEAT_SECONDS": 0.2}
    bob = await amake_user("bob")
    stream = await stream_for(live_server_url, await asession_cookie(bob))
    await stream.events_until("synced")
    with pytest.raises(TimeoutError):
        await stream.next_event(timeout=0.7)  # no event: only comments
    assert stream.comments.count("heartbeat") >= 2
    await stream.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "null"},
    ],
)
async def test_a_page_of_another_site_is_refused(
    live_server_url: str, amake_user: Any, headers: dict[str, str]
) -> None:
    cookie = await asession_cookie(await amake_user("bob"))
    refused = await open_stream(live_server_url + PATH, {"Cookie": cookie, **headers})
    assert refused.status == 403
    assert json.loads(refused.body) == {
        "detail": "A page of another site may not open the notification stream."
    }


async def test_the_sites_own_origin_and_a_script_are_served(
    live_server_url: str, amake_user: Any
) -> None:
    cookie = await asession_cookie(await amake_user("bob"))
    for headers in ({"Origin": live_server_url}, {}):
        stream = await open_stream(live_server_url + PATH, {"Cookie": cookie, **headers})
        assert stream.status == 200
        await stream.events_until("synced")
        await stream.close()


async def test_anonymous_and_other_methods_are_refused_in_the_apis_shape(
    live_server_url: str,
) -> None:
    anonymous = await open_stream(live_server_url + PATH, SAME_ORIGIN)
    assert anonymous.status == 403
    assert json.loads(anonymous.body) == {"detail": "Authentication credentials were not provided."}
    host = live_server_url.removeprefix("http://")
    reader, writer = await asyncio.open_connection(*host.split(":"))
    writer.write(f"HEAD {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    assert b" 405 " in await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    await writer.wait_closed()


async def test_a_ticket_opens_a_stream_once(live_server_url: str, amake_user: Any) -> None:
    bob = await amake_user("bob")
    cookie = await asession_cookie(bob)
    session_key = cookie.split("=", 1)[1]
    ticket = await database_sync_to_async(tickets.issue)(bob, session_key=session_key)
    # No cookie, another site's page: the ticket is the credential.
    headers = {"Sec-Fetch-Site": "cross-site"}
    stream = await open_stream(f"{live_server_url}{PATH}?ticket={ticket}", headers)
    assert stream.status == 200
    await stream.events_until("synced")
    [row] = await anotify(bob, "by ticket")
    got = await stream.next_event()
    assert got is not None and got.id == str(row.pk)
    await stream.close()
    replayed = await open_stream(f"{live_server_url}{PATH}?ticket={ticket}", headers)
    assert replayed.status == 403
    assert json.loads(replayed.body) == {"detail": "Incorrect authentication credentials."}


async def test_a_deactivated_user_s_stream_ends_with_a_close_event(
    live_server_url: str, amake_user: Any
) -> None:
    bob = await amake_user("bob")
    stream = await stream_for(live_server_url, await asession_cookie(bob))
    await stream.events_until("synced")

    def deactivate() -> None:
        bob.is_active = False
        bob.save()

    await database_sync_to_async(deactivate)()
    [last] = await stream.events_until("close")
    assert last.data == {"type": "close", "code": 4401, "reason": "session_ended"}
    assert await stream.next_event() is None  # the response ended
    await stream.close()


async def test_a_logout_ends_the_stream_of_that_session(
    live_server_url: str, amake_user: Any
) -> None:
    from django.test import Client

    bob = await amake_user("bob")
    cookie = await asession_cookie(bob)
    stream = await stream_for(live_server_url, cookie)
    await stream.events_until("synced")

    def log_out() -> None:
        client = Client()
        client.cookies["sessionid"] = cookie.split("=", 1)[1]
        assert client.post("/accounts/logout/").status_code in (200, 302)

    await database_sync_to_async(log_out)()
    [last] = await stream.events_until("close")
    assert last.data == {"type": "close", "code": 4401, "reason": "logged_out"}
    await stream.close()


async def test_streams_and_sockets_count_together_against_the_per_user_cap(
    live_server_url: str, amake_user: Any, settings: Any
) -> None:
    settings.LIVEBELL = {"MAX_SOCKETS_PER_USER": 1}
    bob = await amake_user("bob")
    cookie = await asession_cookie(bob)
    ws_url = live_server_url.replace("http://", "ws://") + "/ws/notifications/"
    async with connect(
        ws_url, additional_headers={"Origin": live_server_url, "Cookie": cookie}
    ) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "synced"
        stream = await stream_for(live_server_url, cookie)
        [last] = await stream.events_until("close")
        assert last.data == {"type": "close", "code": 4409, "reason": "too_many_sockets"}
        assert await stream.next_event() is None
        await stream.close()
    # The socket gone, a stream is within the cap.
    await asyncio.sleep(0.2)
    stream = await stream_for(live_server_url, cookie)
    await stream.events_until("synced")
    await stream.close()


async def test_a_stream_that_falls_behind_is_closed_with_1013(
    live_server_url: str, amake_user: Any, settings: Any
) -> None:
    """Its mailbox is bounded: messages that pile up past MAX_PENDING_MESSAGES end it."""
    settings.LIVEBELL = {"MAX_PENDING_MESSAGES": 1, "STORM_THRESHOLD": None}
    bob = await amake_user("bob")
    stream = await stream_for(live_server_url, await asession_cookie(bob))
    await stream.events_until("synced")
    rows = await asyncio.gather(*(anotify(bob, f"many {i}") for i in range(30)))
    assert rows
    events = await stream.events_until("close", timeout=10)
    assert events[-1].data == {"type": "close", "code": 1013, "reason": "fell_behind"}
    await stream.close()
