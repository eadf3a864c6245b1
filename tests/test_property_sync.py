"""Property: whatever the interleaving of notify, disconnect, reconnect, mark read and
delete, a client that follows the protocol ends with the database's view.

The client is modelled as livebell.js and the demo behave: apply every frame; on
each (re)connect resume from ``last_id`` and refetch the list over REST (read-state
events are not replayed, see docs/delivery.md).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livebell import anotify, inbox
from livebell.models import Notification
from tests.conftest import open_socket, receive_json
from tests.testapp.models import Post

pytestmark = [pytest.mark.django_db(transaction=True)]

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("notify"), st.integers(1, 3)),
        st.tuples(st.just("like"), st.integers(0, 1)),  # grouped: replaces a row
        st.tuples(st.just("notify_other"), st.just(0)),
        st.tuples(st.just("disconnect"), st.just(0)),
        st.tuples(st.just("reconnect"), st.just(0)),
        st.tuples(st.just("mark_read"), st.integers(0, 50)),
        st.tuples(st.just("mark_read_socket"), st.integers(0, 50)),
        st.tuples(st.just("mark_unread"), st.integers(0, 50)),
        st.tuples(st.just("mark_all_read"), st.just(0)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
    ),
    max_size=14,
)

_names = itertools.count()


class ClientView:
    """What a client following the protocol believes about its user's inbox."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.items: dict[int, bool] = {}  # id -> unread
        self.groups: dict[int, int] = {}  # id -> the id of its group's first row
        self.unread_count: int | None = None
        self.last_id: int | None = None
        self.socket: Any = None
        self.http = Client()

    def apply(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        assert kind != "error", frame
        if kind == "notification":
            notification = frame["notification"]
            group = notification["group"]
            if group is not None:
                # A merged notification replaces whatever the client shows of its group.
                for pk in [pk for pk in self.items if pk == group or self.groups.get(pk) == group]:
                    del self.items[pk]
                self.groups[notification["id"]] = group
            self.items[notification["id"]] = notification["unread"]
            self.last_id = notification["id"]
        elif kind == "synced":
            self.last_id = frame["last_id"]
        elif kind in ("read", "unread"):
            if frame["ids"] == "all":
                for pk in self.items:
                    if frame["before_id"] is None or pk <= frame["before_id"]:
                        self.items[pk] = False
            else:
                for pk in frame["ids"]:
                    if pk in self.items:
                        self.items[pk] = kind == "unread"
        elif kind == "deleted":
            for pk in frame["ids"]:
                self.items.pop(pk, None)
        self.unread_count = frame.get("unread_count", self.unread_count)

    async def expect(self, count: int) -> None:
        """Apply the ``count`` frames this step must have caused (none if offline)."""
        if self.socket is not None:
            for _ in range(count):
                self.apply(await receive_json(self.socket))

    async def connect(self) -> None:
        resumed_from = self.last_id
        query = "" if resumed_from is None else f"?last_id={resumed_from}"
        self.socket = await open_socket(self.user, path=f"/ws/notifications/{query}")
        connected, _ = await self.socket.connect()
        assert connected
        while True:
            frame = await receive_json(self.socket)
            self.apply(frame)
            if frame["type"] == "synced":
                break
        # The replay alone (before the refetch) brought every newer notification.
        items, unread = await sync_to_async(truth)(self.user)
        newer = {pk for pk in items if resumed_from is not None and pk > resumed_from}
        assert newer <= self.items.keys(), "the replay missed notifications"
        assert self.unread_count == unread
        await sync_to_async(self.refetch)()

    def refetch(self) -> None:
        self.http.force_login(self.user)
        items: dict[int, bool] = {}
        url: str | None = "/api/notifications/?page_size=100"
        while url:
            page = self.http.get(url)
            assert page.status_code == 200, page.content
            body = page.json()
            items.update({n["id"]: n["unread"] for n in body["results"]})
            self.groups.update({n["id"]: n["group"] for n in body["results"] if n["group"]})
            url = body["next"]
        self.items = items

    async def disconnect(self) -> None:
        if self.socket is not None:
            await self.socket.disconnect()
            self.socket = None


def truth(user: Any) -> tuple[dict[int, bool], int]:
    rows = Notification.objects.for_user(user).values_list("id", "read_at")
    items = {pk: read_at is None for pk, read_at in rows}
    return items, sum(items.values())


def pick(user: Any, index: int) -> list[int]:
    ids = sorted(Notification.objects.for_user(user).values_list("id", flat=True))
    return [ids[index % len(ids)]] if ids else []


async def scenario(operations: list[tuple[str, int]]) -> None:
    await get_channel_layer().flush()
    n = next(_names)
    User = get_user_model()
    bob = await User.objects.acreate(username=f"bob{n}")
    other = await User.objects.acreate(username=f"other{n}")
    posts = [await Post.objects.acreate(title=f"post {n}.{i}") for i in range(2)]
    client = ClientView(bob)
    await client.connect()
    for name, value in operations:
        if name == "notify":
            for i in range(value):
                await anotify(bob, f"n{i}")
            await client.expect(value)
        elif name == "like":
            await anotify(bob, type="post.liked", actor=other, target=posts[value])
            await client.expect(1)
        elif name == "notify_other":
            await anotify(other, "not for bob")
        elif name == "disconnect":
            await client.disconnect()
        elif name == "reconnect" and client.socket is None:
            await client.connect()
        # A change that changes nothing sends no event: expect one only if it did.
        elif name == "mark_all_read":
            await client.expect(1 if await inbox.amark_all_read(bob) else 0)
        elif name in ("mark_read", "mark_unread", "delete"):
            ids = await sync_to_async(pick)(bob, value)
            change = {"mark_read": inbox.amark_read, "mark_unread": inbox.amark_unread}
            await client.expect(1 if await change.get(name, inbox.adelete)(bob, ids) else 0)
        elif name == "mark_read_socket" and client.socket is not None:
            ids = await sync_to_async(pick)(bob, value)
            items, _ = await sync_to_async(truth)(bob)
            await client.socket.send_json_to({"type": "mark_read", "ids": ids})
            await client.expect(1 if any(items[pk] for pk in ids) else 0)
    if client.socket is None:
        await client.connect()
    assert await client.socket.receive_nothing(timeout=0.05)
    items, unread = await sync_to_async(truth)(bob)
    assert client.items == items
    assert client.unread_count == unread
    await client.disconnect()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_client_view_converges_to_the_database(operations: list[tuple[str, int]]) -> None:
    asyncio.run(scenario(operations))
