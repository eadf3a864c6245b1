"""Who the socket belongs to: read from the session by livebell (batched across
concurrent connects), or taken from Channels' AuthMiddlewareStack."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

import livebell.routing
from livebell import anotify, auth
from tests.conftest import (
    asession_cookie,
    connect_synced,
    count_batches,
    open_socket,
    receive_json,
    session_cookie,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_behind_auth_middleware_stack_too(amake_user: Any) -> None:
    bob = await amake_user("bob")
    app = AuthMiddlewareStack(URLRouter(livebell.routing.websocket_urlpatterns))
    headers = [(b"cookie", (await asession_cookie(bob)).encode())]
    socket = WebsocketCommunicator(app, "/ws/notifications/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    assert (await receive_json(socket))["type"] == "synced"
    [row] = await anotify(bob, "hello")
    assert (await receive_json(socket))["notification"]["id"] == row.pk
    await socket.disconnect()


async def test_a_session_from_before_a_password_change_is_refused(amake_user: Any) -> None:
    """Django's session-hash check applies: changing the password logs sockets out."""
    bob = await amake_user("bob")
    socket = await open_socket(bob)  # logged in now

    def change_password() -> None:
        bob.set_password("new password")
        bob.save()

    await sync_to_async(change_password)()
    connected, _ = await socket.connect()
    assert connected
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_concurrent_connects_share_database_trips(
    amake_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [await amake_user(f"u{i}") for i in range(20)]
    batches = count_batches(monkeypatch, auth._resolve)
    sockets = await asyncio.gather(*(connect_synced(user) for user in users))
    assert sum(batches) == 20 and len(batches) < 20, batches
    # Each socket is its own user's: a notification reaches only its recipient.
    [row] = await anotify(users[7], "for u7")
    assert (await receive_json(sockets[7]))["notification"]["id"] == row.pk
    for i, socket in enumerate(sockets):
        if i != 7:
            assert await socket.receive_nothing(timeout=0.02)
    await asyncio.gather(*(socket.disconnect() for socket in sockets))


async def test_a_scope_without_session_or_cookie_is_anonymous() -> None:
    user = await auth.ascope_user({"type": "websocket", "headers": []})
    assert not user.is_authenticated


async def test_the_socket_reads_the_session_cookie_itself(amake_user: Any) -> None:
    """No session middleware around the socket (the README's asgi.py): the cookie's
    session gives the user; another cookie beside it, or a second cookie header,
    changes nothing; no cookie, an unknown key or a key of a logged-out session is
    anonymous (4401)."""
    from livebell.origin import OriginValidator

    app = OriginValidator(URLRouter(livebell.routing.websocket_urlpatterns))
    origin = [(b"origin", b"http://testserver"), (b"host", b"testserver")]

    def socket_with(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
        return WebsocketCommunicator(app, "/ws/notifications/", headers=origin + headers)

    bob = await amake_user("bob")
    cookie = (await asession_cookie(bob)).encode()
    for headers in (
        [(b"cookie", b"theme=dark; " + cookie + b"; lang=zh")],
        [(b"cookie", b"theme=dark"), (b"cookie", cookie)],
    ):
        socket = socket_with(headers)
        connected, _ = await socket.connect()
        assert connected and (await receive_json(socket))["type"] == "synced"
        [row] = await anotify(bob, "hello")
        assert (await receive_json(socket))["notification"]["id"] == row.pk
        await socket.disconnect()
    name = cookie.split(b"=", 1)[0]
    for headers in ([], [(b"cookie", name + b"=no-such-session")], [(b"cookie", b"a=b")]):
        socket = socket_with(headers)
        connected, _ = await socket.connect()
        assert connected
        assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_behind_session_middleware_stack_too(amake_user: Any) -> None:
    """livebell 0.2's asgi.py, with Channels' session middleware, keeps working."""
    from channels.sessions import SessionMiddlewareStack

    bob = await amake_user("bob")
    app = SessionMiddlewareStack(URLRouter(livebell.routing.websocket_urlpatterns))
    headers = [(b"cookie", (await asession_cookie(bob)).encode())]
    socket = WebsocketCommunicator(app, "/ws/notifications/", headers=headers)
    connected, _ = await socket.connect()
    assert connected and (await receive_json(socket))["type"] == "synced"
    [row] = await anotify(bob, "hello")
    assert (await receive_json(socket))["notification"]["id"] == row.pk
    await socket.disconnect()


@pytest.mark.django_db
def test_a_batch_of_sessions_is_resolved_in_two_queries(
    make_user: Any, django_assert_num_queries: Any
) -> None:
    """The sessions in one query, their users in another; the same answers as one by one."""
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    users = [make_user(f"u{i}") for i in range(20)]
    keys = [session_cookie(user).split("=", 1)[1] for user in users]
    inactive = users[3]
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    changed = users[5]
    changed.set_password("another")
    changed.save(update_fields=["password"])
    keys += ["no-such-session", keys[0]]  # a missing key, and one socket more of u0
    with django_assert_num_queries(2):
        batched = auth._users([store(key) for key in keys])
    one_by_one = [auth.session_user(store(key)) for key in keys]
    assert [getattr(u, "pk", None) for u in batched] == [getattr(u, "pk", None) for u in one_by_one]
    expected = [u.pk for u in users] + [None, users[0].pk]
    expected[3] = expected[5] = None  # inactive; password changed since the login
    assert [u.pk if u.is_authenticated else None for u in batched] == expected
