"""A change made through REST reaches every open socket of its user, and no one else's."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from livebell import anotify
from livebell.models import Notification
from tests.conftest import connect_synced, receive_json

pytestmark = [pytest.mark.django_db(transaction=True)]

LIST = "/api/notifications/"


@pytest.fixture
async def tabs(amake_user: Any, rest_client: Any) -> Any:
    """Bob with three unread notifications, two bob sockets, one alice socket, and a
    REST client logged in as bob (whose calls run in a worker thread, as in a server)."""
    bob, alice = await amake_user("bob"), await amake_user("alice")
    notifications = [(await anotify(bob, f"n{index}", actor=alice))[0] for index in range(3)]
    await anotify(alice, "for alice")
    sockets = [await connect_synced(bob), await connect_synced(bob), await connect_synced(alice)]
    client = await database_sync_to_async(rest_client)(bob)

    async def request(method: str, path: str, body: Any = None) -> Any:
        call = getattr(client, method)
        kwargs = {"format": "json"} if body is not None else {}
        args = (LIST + path, body) if body is not None else (LIST + path,)
        return await database_sync_to_async(call)(*args, **kwargs)

    yield [n.pk for n in notifications], sockets, request
    for socket in sockets:
        await socket.disconnect()


async def expect_on_bobs_tabs_only(sockets: list[Any], frame: dict[str, Any]) -> None:
    bob_tab1, bob_tab2, alice_tab = sockets
    for tab in (bob_tab1, bob_tab2):
        assert await receive_json(tab) == frame
        assert await tab.receive_nothing(timeout=0.1)
    assert await alice_tab.receive_nothing(timeout=0.3)


async def test_mark_read_reaches_both_bob_sockets_and_not_alices(
    layer_kind: str, tabs: Any
) -> None:
    ids, sockets, request = tabs
    response = await request("post", "mark-read/", {"ids": [ids[0]]})
    assert response.json() == {"ids": [ids[0]], "unread_count": 2}
    await expect_on_bobs_tabs_only(sockets, {"type": "read", "ids": [ids[0]], "unread_count": 2})


async def test_mark_unread_reaches_both_bob_sockets_and_not_alices(tabs: Any) -> None:
    ids, sockets, request = tabs
    await request("post", "mark-read/", {"ids": ids})
    await expect_on_bobs_tabs_only(sockets, {"type": "read", "ids": ids, "unread_count": 0})
    response = await request("post", "mark-unread/", {"ids": [ids[1]]})
    assert response.json() == {"ids": [ids[1]], "unread_count": 1}
    await expect_on_bobs_tabs_only(sockets, {"type": "unread", "ids": [ids[1]], "unread_count": 1})


async def test_mark_all_read_reaches_both_bob_sockets_and_not_alices(tabs: Any) -> None:
    ids, sockets, request = tabs
    response = await request("post", "mark-all-read/", {"before_id": ids[1]})
    assert response.json() == {"marked": 2, "unread_count": 1}
    await expect_on_bobs_tabs_only(
        sockets, {"type": "read", "ids": "all", "before_id": ids[1], "unread_count": 1}
    )


async def test_delete_reaches_both_bob_sockets_and_not_alices(layer_kind: str, tabs: Any) -> None:
    ids, sockets, request = tabs
    response = await request("delete", f"{ids[2]}/")
    assert response.status_code == 204
    await expect_on_bobs_tabs_only(sockets, {"type": "deleted", "ids": [ids[2]], "unread_count": 2})


async def test_requests_that_change_nothing_of_bobs_push_nothing_to_alice(tabs: Any) -> None:
    ids, sockets, request = tabs
    # An id of alice's: 404, and her socket hears nothing.
    alices = await Notification.objects.exclude(pk__in=ids).values_list("id", flat=True).afirst()
    assert (await request("delete", f"{alices}/")).status_code == 404
    assert (await request("post", "mark-read/", {"ids": [alices]})).json() == {
        "ids": [],
        "unread_count": 3,
    }
    assert await sockets[2].receive_nothing(timeout=0.3)
