"""What a reader sees of a notification's actors (livebell.storage.actors): a deleted
account is a ghost, whose name is not kept; a renamed user has the current name;
over REST, on the socket (live and caught up) and in the rendered text, in the
reader's language."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from livebell import anotify, notify
from livebell.models import Notification
from tests.conftest import connect_synced, open_socket, receive_json
from tests.testapp.models import Post

pytestmark = [pytest.mark.django_db(transaction=True)]

GHOST = {"id": None, "username": "ghost"}
CHINESE_GHOST = {"id": None, "username": "幽灵用户"}
CHINESE = [(b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.5")]


def actor(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "username": user.get_username()}


@pytest.fixture
def likes(make_user: Any) -> dict[str, Any]:
    """carol's post liked by alice, erin, nora and oscar (one merged row), and nora
    following carol."""
    users = {name: make_user(name) for name in ("carol", "alice", "erin", "nora", "oscar")}
    post = Post.objects.create(title="Hello")
    for name in ("alice", "erin", "nora", "oscar"):
        notify(users["carol"], type="post.liked", actor=users[name], target=post)
    notify(users["carol"], "started following you", actor=users["nora"])
    return {**users, "post": post}


def listed(rest_client: Any, user: Any, **headers: str) -> list[dict[str, Any]]:
    response = rest_client(user).get("/api/notifications/", **headers)
    assert response.status_code == 200
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_a_deleted_actor_is_a_ghost_and_its_name_is_not_kept(likes: Any, rest_client: Any) -> None:
    carol, nora = likes["carol"], likes["nora"]
    get_user_model().objects.filter(pk=nora.pk).delete()  # a bulk delete, too

    stored = list(Notification.objects.values_list("actors", flat=True))
    assert stored and "nora" not in json.dumps(stored)
    assert str(nora.pk) not in {str(a["id"]) for row in stored for a in row}

    followed, liked = listed(rest_client, carol)
    assert followed["actor"] == GHOST and followed["actors"] == [GHOST]
    assert followed["text"] == "ghost started following you"
    assert liked["actors"] == [
        actor(likes["oscar"]),
        GHOST,
        actor(likes["erin"]),
        actor(likes["alice"]),
    ]
    assert liked["count"] == 4 and liked["text"] == "oscar and 3 others liked your post “Hello”"

    followed, liked = listed(rest_client, carol, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert followed["actor"] == CHINESE_GHOST
    assert followed["text"] == "幽灵用户 started following you"
    assert liked["actors"][1] == CHINESE_GHOST


def test_a_deleted_newest_actor_is_a_ghost_in_the_text(likes: Any, rest_client: Any) -> None:
    likes["oscar"].delete()
    _, liked = listed(rest_client, likes["carol"])
    assert liked["actor"] == GHOST and liked["actors"][0] == GHOST
    assert liked["text"] == "ghost and 3 others liked your post “Hello”"


def test_a_renamed_actor_has_the_current_name(likes: Any, rest_client: Any) -> None:
    for name in ("erin", "nora"):
        likes[name].username = f"{name}-renamed"
        likes[name].save()
    followed, liked = listed(rest_client, likes["carol"])
    assert followed["actor"] == actor(likes["nora"])
    assert followed["text"] == "nora-renamed started following you"
    assert [a["username"] for a in liked["actors"]] == [
        "oscar",
        "nora-renamed",
        "erin-renamed",
        "alice",
    ]


def test_a_typed_notification_without_an_actor_has_no_leading_space(
    make_user: Any, rest_client: Any
) -> None:
    bob = make_user("bob")
    notify(bob, type="post.commented", target=Post.objects.create(title="Hello"))
    [n] = listed(rest_client, bob)
    assert n["actor"] is None and n["actors"] == []
    assert n["text"] == "commented on your post “Hello”"


async def test_ghosts_on_the_socket_live_and_caught_up(likes: Any, amake_user: Any) -> None:
    carol, nora = likes["carol"], likes["nora"]
    english = await connect_synced(carol)
    chinese = await connect_synced(carol, headers=CHINESE)
    await get_user_model().objects.filter(pk=nora.pk).adelete()
    dave = await amake_user("dave")
    await anotify(carol, type="post.liked", actor=dave, target=likes["post"])
    for socket, ghost in ((english, GHOST), (chinese, CHINESE_GHOST)):
        frame = await receive_json(socket)
        assert frame["notification"]["actors"][0] == actor(dave)
        assert frame["notification"]["actors"][2] == ghost
        await socket.disconnect()

    for headers, ghost, text in (
        ([], GHOST, "ghost started following you"),
        (CHINESE, CHINESE_GHOST, "幽灵用户 started following you"),
    ):
        later = await open_socket(carol, path="/ws/notifications/?last_id=0", headers=headers)
        await later.connect()
        followed, liked = [(await receive_json(later))["notification"] for _ in range(2)]
        assert followed["actor"] == ghost and followed["text"] == text
        assert liked["actors"][2] == ghost
        assert (await receive_json(later))["type"] == "synced"
        await later.disconnect()
