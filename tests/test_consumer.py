"""The socket through the demo's full ASGI stack (origin check, session auth, routing)."""

from __future__ import annotations

from typing import Any

import pytest

from livebell import anotify
from tests.conftest import connect_synced, open_socket, receive_json

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_notification_reaches_every_socket_of_the_recipient_and_nobody_else(
    layer_kind: str, amake_user: Any
) -> None:
    bob, alice = await amake_user("bob"), await amake_user("alice")
    bob_tab1, bob_tab2, alice_tab = (
        await connect_synced(bob),
        await connect_synced(bob),
        await connect_synced(alice),
    )

    [n] = await anotify(bob, "liked your post", actor=alice)

    for tab in (bob_tab1, bob_tab2):
        frame = await receive_json(tab)
        assert frame["type"] == "notification"
        assert frame["unread_count"] == 1
        assert frame["notification"]["id"] == n.pk
        assert frame["notification"]["verb"] == "liked your post"
        assert await tab.receive_nothing(timeout=0.2)
    assert await alice_tab.receive_nothing(timeout=0.3)
    for socket in (bob_tab1, bob_tab2, alice_tab):
        await socket.disconnect()


async def test_payload_shape(amake_user: Any) -> None:
    from tests.testapp.models import Post

    bob, alice = await amake_user("bob"), await amake_user("alice")
    post = await Post.objects.acreate(title="My post")
    socket = await connect_synced(bob)
    [n] = await anotify(bob, "commented", actor=alice, target=post, data={"x": [1]})
    frame = await receive_json(socket)
    assert frame == {
        "type": "notification",
        "unread_count": 1,
        "notification": {
            "id": n.pk,
            "type": None,
            "verb": "commented",
            "text": "alice commented “My post”",
            "actor": {"id": alice.pk, "username": "alice"},
            "actors": [{"id": alice.pk, "username": "alice"}],
            "count": 1,
            "group": None,
            "target": {
                "type": "testapp.post",
                "id": str(post.pk),
                "text": "My post",
                "url": f"/posts/{post.pk}/",
            },
            "level": "info",
            "data": {"x": [1]},
            "created_at": n.created_at.isoformat(),
            "unread": True,
        },
    }
    await socket.disconnect()


async def test_anonymous_is_closed_with_4401() -> None:
    socket = await open_socket(None)
    connected, _ = await socket.connect()
    assert connected  # accepted so that the browser sees the close code…
    output = await socket.receive_output(timeout=1)
    assert output == {"type": "websocket.close", "code": 4401}  # …and nothing else


async def test_inactive_user_session_is_anonymous(amake_user: Any) -> None:
    bob = await amake_user("bob")
    socket = await open_socket(bob)
    bob.is_active = False
    await bob.asave()
    await socket.connect()
    assert await socket.receive_output(timeout=1) == {"type": "websocket.close", "code": 4401}


async def test_foreign_origin_is_refused(amake_user: Any) -> None:
    socket = await open_socket(await amake_user("bob"), origin="http://evil.example")
    connected, _ = await socket.connect()
    assert not connected


async def test_ping_pong(amake_user: Any) -> None:
    socket = await connect_synced(await amake_user("bob"))
    await socket.send_json_to({"type": "ping"})
    assert await receive_json(socket) == {"type": "pong"}
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"no": "type"}', "bad_frame"),
        ('{"type": 7}', "bad_frame"),
        ('{"type": "launch_missiles"}', "unknown_type"),
        ('{"type": "ping", "pad": "' + "x" * 5000 + '"}', "frame_too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_survives(
    amake_user: Any, frame: str, code: str
) -> None:
    socket = await connect_synced(await amake_user("bob"))
    await socket.send_to(text_data=frame)
    error = await receive_json(socket)
    assert error["type"] == "error" and error["code"] == code and error["message"]
    await socket.send_json_to({"type": "ping"})
    assert await receive_json(socket) == {"type": "pong"}
    await socket.disconnect()


async def test_binary_frames_get_an_error(amake_user: Any) -> None:
    socket = await connect_synced(await amake_user("bob"))
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await receive_json(socket))["code"] == "binary_not_supported"
    await socket.disconnect()


async def test_frames_over_the_rate_limit_are_refused(amake_user: Any, settings: Any) -> None:
    settings.LIVEBELL = {"RATE_LIMIT_PER_SECOND": 0.001, "RATE_LIMIT_BURST": 3}
    socket = await connect_synced(await amake_user("bob"))
    for _ in range(5):
        await socket.send_json_to({"type": "ping"})
    replies = [await receive_json(socket) for _ in range(5)]
    assert [r["type"] for r in replies] == ["pong"] * 3 + ["error"] * 2
    assert replies[-1]["code"] == "rate_limited"
    await socket.disconnect()


async def test_a_closed_socket_is_freed_without_the_garbage_collector(amake_user: Any) -> None:
    """A consumer left in reference cycles waits for a full collection, which scans every
    object of the process (at 10,000 sockets, a stall of over a second after a mass
    disconnect, benchmarks.md); a closed one must be freed by reference counting."""
    import asyncio
    import gc

    from livebell.live.websocket import NotificationConsumer

    def consumers() -> list[Any]:
        # type(), not isinstance(): a dead weakref.proxy among the objects raises on that.
        return [o for o in gc.get_objects() if issubclass(type(o), NotificationConsumer)]

    bob = await amake_user("bob")
    gc.collect()
    gc.disable()
    # Sockets of earlier tests that are still around are not this test's (held, so
    # that no new consumer can take one of their ids).
    earlier = consumers()
    try:
        sockets = [await connect_synced(bob) for _ in range(3)]
        [n] = await anotify(bob, "liked your post")
        for socket in sockets:
            assert (await receive_json(socket))["notification"]["id"] == n.pk
            await socket.send_json_to({"type": "ping"})
            assert (await receive_json(socket))["type"] == "pong"
        for socket in sockets:
            await socket.disconnect()
        del sockets, socket
        for _ in range(5):
            await asyncio.sleep(0)
        left = [o for o in consumers() if not any(o is e for e in earlier)]
        assert left == [], f"{len(left)} closed consumers wait for the garbage collector"
    finally:
        gc.enable()
