"""livebell with a user model whose primary key is not an integer, end to end.

Run by tests/test_user_pk.py in a pytest of its own, with tests/settings_user_pk.py
(``AUTH_USER_MODEL`` is a UUID- or string-keyed user): notify() to one and many
users, grouping with its actors, the socket (session, live pushes, catch-up and
resume, tickets), the REST API, the admin, and a deleted or renamed actor.
A key reaches JSON as a string (``str(pk)``), in the ``actor`` and ``actors``
of every payload alike.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from websockets.asyncio.client import connect

from livebell import notify
from livebell.models import Notification
from tests.conftest import asession_cookie
from tests.testapp.models import Post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_the_user_model_is_not_integer_keyed() -> None:
    field = get_user_model()._meta.pk
    assert field.get_internal_type() in ("UUIDField", "CharField")


def key(user: Any) -> str:
    return str(user.pk)


def test_notify_one_many_and_grouped(make_user: Any, rest_client: Any) -> None:
    alice, bob, carol, dave = (make_user(name) for name in ("alice", "bob", "carol", "dave"))
    post = Post.objects.create(title="Hello")
    [single] = notify(bob, "waved", actor=alice)
    many = notify([bob, carol, dave], type="post.commented", actor=alice, target=post)
    assert sorted(map(str, (n.recipient_id for n in many))) == sorted(map(key, (bob, carol, dave)))
    notify(carol, type="post.liked", actor=alice, target=post)
    notify(carol, type="post.liked", actor=bob, target=post)
    [merged] = notify(carol, type="post.liked", actor=dave, target=post)
    assert merged.count == 3
    assert [a["id"] for a in merged.actors] == [key(dave), key(bob), key(alice)]

    listed = rest_client(carol).get("/api/notifications/").json()["results"]
    assert listed[0]["actors"] == [
        {"id": key(dave), "username": "dave"},
        {"id": key(bob), "username": "bob"},
        {"id": key(alice), "username": "alice"},
    ]
    assert listed[0]["actor"] == {"id": key(dave), "username": "dave"}
    assert listed[0]["text"] == "dave and 2 others liked your post “Hello”"
    assert listed[1]["text"] == "alice commented on your post “Hello”"
    assert rest_client(carol).get("/api/notifications/unread-count/").json() == {"count": 2}
    [bobs_wave] = [
        n
        for n in rest_client(bob).get("/api/notifications/").json()["results"]
        if n["id"] == single.pk
    ]
    assert bobs_wave["actor"] == {"id": key(alice), "username": "alice"}


def test_rest_read_state_and_deletion(make_user: Any, rest_client: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    ids = [notify(bob, f"n{i}", actor=alice)[0].pk for i in range(3)]
    client = rest_client(bob)
    assert (
        client.post("/api/notifications/mark-read/", {"ids": ids[:2]}, format="json").status_code
        == 200
    )
    assert client.get("/api/notifications/unread-count/").json() == {"count": 1}
    assert (
        client.post("/api/notifications/mark-unread/", {"ids": ids[:1]}, format="json").status_code
        == 200
    )
    assert client.get("/api/notifications/unread-count/").json() == {"count": 2}
    assert client.post("/api/notifications/mark-all-read/", {}, format="json").status_code == 200
    assert client.get("/api/notifications/unread-count/").json() == {"count": 0}
    assert client.delete(f"/api/notifications/{ids[0]}/").status_code == 204
    assert Notification.objects.filter(recipient=bob).count() == 2
    # Another user's notification is not alice's to delete.
    assert rest_client(alice).delete(f"/api/notifications/{ids[1]}/").status_code == 404


async def frames(ws: Any, kind: str, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while len(got) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == kind:
            got.append(frame)
    return got


async def test_socket_live_catch_up_and_resume(live_server_url: str, amake_user: Any) -> None:
    alice, bob = await amake_user("alice"), await amake_user("bob")
    cookie = await asession_cookie(bob)
    url = live_server_url.replace("http", "ws") + "/ws/notifications/"
    headers = {"Origin": live_server_url, "Cookie": cookie}
    post = await sync_to_async(Post.objects.create)(title="Hello")
    send = sync_to_async(notify)
    async with connect(url, additional_headers=headers) as ws:
        [synced] = await frames(ws, "synced", 1)
        assert synced["unread_count"] == 0
        [first] = await send(bob, type="post.liked", actor=alice, target=post)
        [pushed] = await frames(ws, "notification", 1)
        assert pushed["notification"]["actor"] == {"id": key(alice), "username": "alice"}
        carol = await amake_user("carol")
        await send(bob, type="post.liked", actor=carol, target=post)
        [merged] = await frames(ws, "notification", 1)
        assert merged["notification"]["group"] == first.pk
        assert [a["id"] for a in merged["notification"]["actors"]] == [key(carol), key(alice)]
        last_id = merged["notification"]["id"]
    missed = [(await send(bob, f"missed {i}", actor=alice))[0].pk for i in range(3)]
    async with connect(url + f"?last_id={last_id}", additional_headers=headers) as ws:
        caught = await frames(ws, "notification", 3)
        assert [f["notification"]["id"] for f in caught] == missed
        assert caught[0]["notification"]["actor"]["id"] == key(alice)
        await frames(ws, "synced", 1)
        later = [(await send(bob, f"later {i}", actor=carol))[0].pk for i in range(2)]
        await frames(ws, "notification", 2)
        await ws.send(json.dumps({"type": "resume", "last_id": missed[-1]}))
        resumed = await frames(ws, "notification", 2)
        assert [f["notification"]["id"] for f in resumed] == later
        await ws.send(json.dumps({"type": "mark_read", "ids": later}))
        [state] = await frames(ws, "read", 1)
        assert sorted(state["ids"]) == later


async def test_socket_ticket(live_server_url: str, amake_user: Any, rest_client: Any) -> None:
    alice, bob = await amake_user("alice"), await amake_user("bob")
    client = await sync_to_async(rest_client)(bob)
    response = await sync_to_async(client.post)("/api/notifications/socket-ticket/")
    assert response.status_code == 200, response.content
    ticket = response.json()["ticket"]
    url = live_server_url.replace("http", "ws") + f"/ws/notifications/?ticket={ticket}"
    async with connect(url, additional_headers={"Origin": live_server_url}) as ws:
        await frames(ws, "synced", 1)
        await sync_to_async(notify)(bob, "waved", actor=alice)
        [pushed] = await frames(ws, "notification", 1)
        assert pushed["notification"]["actor"]["id"] == key(alice)


def test_admin_pages(make_user: Any, client: Any) -> None:
    admin = get_user_model().objects.create_superuser(username="root", password="pw")
    alice, bob = make_user("alice"), make_user("bob")
    post = Post.objects.create(title="Hello")
    notify(bob, type="post.liked", actor=alice, target=post)
    [merged] = notify(bob, type="post.liked", actor=admin, target=post)
    client.force_login(admin)
    listed = client.get("/admin/livebell/notification/")
    assert listed.status_code == 200
    assert "root" in listed.content.decode()
    assert client.get("/admin/livebell/notification/?q=bob").status_code == 200
    page = client.get(f"/admin/livebell/notification/{merged.pk}/change/")
    assert page.status_code == 200
    assert key(alice) in page.content.decode()


def test_deleted_and_renamed_actors(make_user: Any, rest_client: Any) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    post = Post.objects.create(title="Hello")
    notify(carol, type="post.liked", actor=alice, target=post)
    notify(carol, type="post.liked", actor=bob, target=post)
    notify(carol, "followed you", actor=bob)
    bob.delete()
    alice.username = "alicia"
    alice.save()
    followed, liked = rest_client(carol).get("/api/notifications/").json()["results"]
    assert followed["actor"] == {"id": None, "username": "ghost"}
    assert followed["text"] == "ghost followed you"
    assert liked["actors"] == [
        {"id": None, "username": "ghost"},
        {"id": key(alice), "username": "alicia"},
    ]
    assert liked["text"] == "ghost and 1 other liked your post “Hello”"


def test_pruning_keeps_the_counters_exact(make_user: Any) -> None:
    """Retention with keys that are not integers: the state rows' marks written by
    the arrays' path (PostgreSQL) or one UPDATE per user (the others)."""
    from datetime import timedelta

    from django.utils import timezone

    from livebell.models import InboxState
    from livebell.storage import prune

    users = [make_user(name) for name in ("alice", "bob", "carol")]
    old = notify(users, "old") + notify(users, "older")
    Notification.objects.filter(pk__in=[n.pk for n in old]).update(
        created_at=timezone.now() - timedelta(days=100)
    )
    notify(users[:2], "fresh")

    assert prune.prune(timedelta(days=90), batch=4).deleted == len(old)

    for user in users:
        found = InboxState.objects.get(user=user)
        mine = Notification.objects.filter(recipient=user)
        assert found.unread_count == mine.filter(read_at__isnull=True).count()
        assert found.pruned_through == max(n.pk for n in old if n.recipient_id == user.pk)
