"""A socket lives no longer than its session: logout, password change, deactivation and
deletion close the affected sockets with 4401 within a second, on every server process.

Real parts only: two uvicorn processes sharing Redis, sockets on both, and the
changes made the way a site makes them (logout and password change over HTTP, the
others with the ORM from another process than the servers).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection, connect

from livebell import anotify
from tests.conftest import REDIS_URL, RUN_PREFIX, session_cookie
from tests.processes import AsgiServer, asgi_servers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

LAYER = {
    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "CONFIG": {"hosts": [REDIS_URL], "prefix": RUN_PREFIX},
}
CLOSE_WITHIN_SECONDS = 1.0


@pytest.fixture
async def servers(redis_required: None, settings: Any) -> AsyncIterator[list[AsgiServer]]:
    """Two server processes on one Redis; this process sends through it too."""
    settings.CHANNEL_LAYERS = {"default": LAYER}
    with asgi_servers(LAYER, 2) as started:
        yield started


class Socket:
    """One client socket that records every frame and how it closed."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                self.frames.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.closed_at = time.monotonic()
        self.close_code = self.connection.close_code

    async def wait_closed(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    def notification_ids(self) -> list[int]:
        return [f["notification"]["id"] for f in self.frames if f["type"] == "notification"]

    async def close(self) -> None:
        await self.connection.close()
        await self.task


async def open_sockets(servers: list[AsgiServer], cookie: str) -> list[Socket]:
    """A synced socket with this session cookie on each server."""
    sockets = []
    for server in servers:
        connection = await connect(
            server.url, additional_headers={"Origin": server.origin, "Cookie": cookie}
        )
        synced = json.loads(await asyncio.wait_for(connection.recv(), 5))
        assert synced["type"] == "synced", synced
        sockets.append(Socket(connection))
    return sockets


def post(server: AsgiServer, path: str, cookie: str, data: dict[str, str]) -> tuple[int, str]:
    """POST a form as a browser would (session cookie, CSRF cookie and token, Origin);
    the status and the new session cookie, if the response set one."""
    token = secrets.token_hex(16)  # 32 characters: a valid unmasked CSRF secret
    request = urllib.request.Request(
        server.origin + path,
        data=urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode(),
        headers={"Cookie": f"{cookie}; csrftoken={token}", "Origin": server.origin},
        method="POST",
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        response = urllib.request.build_opener(NoRedirect).open(request, timeout=10)
    except urllib.error.HTTPError as error:  # 302 after a successful form post
        response = error
    with response:
        new_cookie = ""
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("sessionid="):
                new_cookie = header.split(";", 1)[0]
        return int(response.status), new_cookie


async def assert_closed_4401_within(sockets: list[Socket], started: float) -> None:
    for socket in sockets:
        await socket.wait_closed(timeout=5)
        assert socket.close_code == 4401, socket.close_code
        assert socket.closed_at is not None
        took = socket.closed_at - started
        assert took < CLOSE_WITHIN_SECONDS, f"closed after {took:.2f}s"


async def assert_still_live(sockets: list[Socket], user: Any) -> None:
    [row] = await anotify(user, "still here")
    deadline = time.monotonic() + 5
    while any(row.pk not in s.notification_ids() for s in sockets):
        assert time.monotonic() < deadline, [(s.frames, s.close_code) for s in sockets]
        await asyncio.sleep(0.02)
    assert all(s.closed_at is None for s in sockets)


async def test_logout_closes_that_sessions_sockets_on_every_process(
    servers: list[AsgiServer], amake_user: Any
) -> None:
    bob, carol = await amake_user("bob"), await amake_user("carol")
    laptop_cookie = await sync_to_async(session_cookie)(bob)
    phone_cookie = await sync_to_async(session_cookie)(bob)
    laptop = await open_sockets(servers, laptop_cookie)
    phone = await open_sockets(servers, phone_cookie)
    carols = await open_sockets(servers, await sync_to_async(session_cookie)(carol))

    started = time.monotonic()
    status, _ = await asyncio.to_thread(post, servers[0], "/accounts/logout/", laptop_cookie, {})
    assert status == 302
    # Sent right after the logout: the logged-out sockets must never show it.
    [after_logout] = await anotify(bob, "after logout")
    await assert_closed_4401_within(laptop, started)
    for socket in laptop:
        assert after_logout.pk not in socket.notification_ids(), socket.frames

    # The same user's other session, and other users, are untouched.
    await assert_still_live(phone, bob)
    await assert_still_live(carols, carol)
    # The logged-out session cannot connect again.
    with pytest.raises(websockets.ConnectionClosed) as refused:
        [again] = await open_sockets(servers[:1], laptop_cookie)
        await again.connection.recv()
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4401
    for socket in phone + carols:
        await socket.close()


async def test_a_password_change_closes_the_other_sessions_sockets(
    servers: list[AsgiServer], amake_user: Any
) -> None:
    bob = await amake_user("bob")
    changer_cookie = await sync_to_async(session_cookie)(bob)
    other_cookie = await sync_to_async(session_cookie)(bob)
    changer = await open_sockets(servers, changer_cookie)
    other = await open_sockets(servers, other_cookie)

    started = time.monotonic()
    status, new_cookie = await asyncio.to_thread(
        post,
        servers[1],
        "/accounts/password_change/",
        changer_cookie,
        {"old_password": "pw", "new_password1": "a new pw 123", "new_password2": "a new pw 123"},
    )
    assert status == 302 and new_cookie
    await assert_closed_4401_within(other, started)
    # Django keeps the changer logged in under a new session key (cycle_key): the
    # changer's sockets are told to reconnect (4001), not that they were logged out,
    # and a socket with the browser's new cookie is live.
    for socket in changer:
        await socket.wait_closed(timeout=5)
        assert socket.close_code == 4001, socket.close_code
    reconnected = await open_sockets(servers, new_cookie)
    await assert_still_live(reconnected, bob)
    for socket in reconnected:
        await socket.close()


@pytest.mark.parametrize("change", ["password", "deactivate", "delete"])
async def test_changes_made_elsewhere_close_every_socket_of_the_user(
    servers: list[AsgiServer], amake_user: Any, change: str
) -> None:
    bob, carol = await amake_user("bob"), await amake_user("carol")
    sockets = await open_sockets(servers, await sync_to_async(session_cookie)(bob))
    sockets += await open_sockets(servers, await sync_to_async(session_cookie)(bob))
    carols = await open_sockets(servers, await sync_to_async(session_cookie)(carol))

    def make_change() -> None:
        if change == "password":
            bob.set_password("changed by an admin")
            bob.save()
        elif change == "deactivate":
            bob.is_active = False
            bob.save(update_fields=["is_active"])
        else:
            bob.delete()

    started = time.monotonic()
    await sync_to_async(make_change)()
    await assert_closed_4401_within(sockets, started)
    await assert_still_live(carols, carol)
    for socket in carols:
        await socket.close()


def expire_soon(cookie: str, seconds: float) -> None:
    """Make the session row of ``cookie`` expire in ``seconds`` (its data says nothing)."""
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    key = cookie.split("=", 1)[1]
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(seconds=seconds)
    )


async def test_a_database_session_ends_its_sockets_at_its_expiry(
    servers: list[AsgiServer], amake_user: Any
) -> None:
    bob = await amake_user("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    other = await open_sockets(servers, await sync_to_async(session_cookie)(bob))
    await sync_to_async(expire_soon)(cookie, 2.0)
    started = time.monotonic()
    sockets = await open_sockets(servers, cookie)
    for socket in sockets:
        await socket.wait_closed(timeout=10)
        assert socket.close_code == 4401, socket.close_code
        assert socket.closed_at is not None
        took = socket.closed_at - started
        # Before: at the next periodic check (SESSION_CHECK_SECONDS, 300), not at 2 s.
        assert 1.5 < took < 3.5, f"closed after {took:.2f}s"
    await assert_still_live(other, bob)
    for socket in other:
        await socket.close()


@pytest.mark.parametrize("call", ["end_sessions", "aend_sessions"])
async def test_end_sessions_after_a_bulk_deactivation_closes_the_users_sockets(
    servers: list[AsgiServer], amake_user: Any, call: str
) -> None:
    from django.contrib.auth import get_user_model

    from livebell.auth import aend_sessions, end_sessions

    bob, carol = await amake_user("bob"), await amake_user("carol")
    sockets = await open_sockets(servers, await sync_to_async(session_cookie)(bob))
    carols = await open_sockets(servers, await sync_to_async(session_cookie)(carol))
    users = get_user_model().objects.filter(pk__in=[bob.pk])
    await sync_to_async(users.update)(is_active=False)
    # A bulk update sends no signal: the sockets stay open (until the periodic check).
    await asyncio.sleep(CLOSE_WITHIN_SECONDS)
    assert all(socket.closed_at is None for socket in sockets)

    started = time.monotonic()
    if call == "end_sessions":
        await sync_to_async(end_sessions)([bob.pk])
    else:
        await aend_sessions([bob.pk])
    await assert_closed_4401_within(sockets, started)
    await assert_still_live(carols, carol)
    for socket in carols:
        await socket.close()


def test_the_session_hash_is_the_same_in_every_version() -> None:
    """Logout messages carry it between processes, which may run two versions during a
    deploy: its salt must not change with the code's layout."""
    import hashlib

    from livebell.auth import session_hash

    expected = hashlib.sha256(b"livebell.session:abc").hexdigest()[:32]
    assert session_hash("abc") == expected
