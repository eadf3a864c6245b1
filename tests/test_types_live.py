"""Types and grouping on the wire: each socket reads its reader's language, merged
notifications replace their group in place, and two processes liking one post at
once end in one row."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from livebell import anotify
from livebell.models import Notification
from tests.conftest import REDIS_URL, RUN_PREFIX, connect_synced, open_socket, receive_json
from tests.processes import ROOT, child_env
from tests.testapp.models import Post

pytestmark = [pytest.mark.django_db(transaction=True)]

CHINESE = [(b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.5")]


async def test_each_socket_gets_the_sentence_in_its_readers_language(amake_user: Any) -> None:
    bob, alice = await amake_user("bob"), await amake_user("alice")
    post = await Post.objects.acreate(title="Hello")
    english = await connect_synced(bob)
    chinese = await connect_synced(bob, headers=CHINESE)
    by_cookie = await connect_synced(bob, cookies="django_language=zh-hans")
    await anotify(bob, type="post.commented", actor=alice, target=post)
    await anotify(bob, "waved")  # untyped: the same text for everyone
    texts = []
    for socket in (english, chinese, by_cookie):
        texts.append([(await receive_json(socket))["notification"]["text"] for _ in range(2)])
        await socket.disconnect()
    assert texts[0] == ["alice commented on your post “Hello”", "waved"]
    assert texts[1] == texts[2] == ["alice 评论了你的文章“Hello”", "waved"]

    # A catch-up speaks the reader's language too.
    later = await open_socket(bob, path="/ws/notifications/?last_id=0", headers=CHINESE)
    await later.connect()
    missed = [await receive_json(later) for _ in range(2)]
    assert [f["notification"]["text"] for f in missed] == ["alice 评论了你的文章“Hello”", "waved"]
    assert (await receive_json(later))["type"] == "synced"
    await later.disconnect()


async def test_a_merged_notification_replaces_its_group_live_and_after_a_catch_up(
    layer_kind: str, amake_user: Any
) -> None:
    bob, alice, carol = await amake_user("bob"), await amake_user("alice"), await amake_user("c")
    post = await Post.objects.acreate(title="Hello")
    socket = await connect_synced(bob)
    [first] = await anotify(bob, type="post.liked", actor=alice, target=post)
    frame = await receive_json(socket)
    assert frame["notification"]["id"] == first.pk and frame["unread_count"] == 1
    assert (frame["notification"]["count"], frame["notification"]["group"]) == (1, None)
    await socket.disconnect()  # bob goes away, holding the first one (last_id = first)

    [second] = await anotify(bob, type="post.liked", actor=carol, target=post)
    # Live, to another open socket: the merged row, the group's first id, the count.
    live = await connect_synced(bob)
    # alice likes again: counted, but listed once among the actors.
    [third] = await anotify(bob, type="post.liked", actor=alice, target=post)
    merged = (await receive_json(live))["notification"]
    assert (merged["id"], merged["count"], merged["group"]) == (third.pk, 3, first.pk)
    assert [a["username"] for a in merged["actors"]] == ["alice", "c"]
    await live.disconnect()

    # Back from first: the catch-up brings the merged row once, and the count is 1.
    back = await open_socket(bob, path=f"/ws/notifications/?last_id={first.pk}")
    await back.connect()
    caught = await receive_json(back)
    assert caught["notification"]["id"] == third.pk and caught["notification"]["group"] == first.pk
    assert await receive_json(back) == {"type": "synced", "last_id": third.pk, "unread_count": 1}
    assert await back.receive_nothing(timeout=0.2)
    await back.disconnect()
    assert second.pk < third.pk
    assert [n.pk async for n in Notification.objects.all()] == [third.pk]


def _isolation_levels() -> list[str | None]:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("mysql"):
        return ["read committed", "repeatable read"]
    return [None]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("isolation", _isolation_levels())
def test_two_processes_liking_one_post_at_once_end_in_one_row(
    make_user: Any, isolation: str | None
) -> None:
    """Process A likes and holds its transaction; process B likes meanwhile, waits for
    A's lock, and merges into A's committed row: one row, count 2, both actors."""
    bob, carol = make_user("bob"), make_user("carol")
    make_user("alice")
    post = Post.objects.create(title="Hello")
    layer = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": RUN_PREFIX},
    }
    env = child_env(layer)
    if isolation is not None:
        env["LIVEBELL_TEST_MYSQL_ISOLATION"] = isolation

    def start(actor: str, hold: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.contender", "like", "bob", actor, str(post.pk), hold],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )

    processes = [start("alice", "2")]
    try:
        assert processes[0].stdout is not None
        stored = json.loads(processes[0].stdout.readline())
        assert stored["count"] == 1
        processes.append(start("carol", "0"))  # A still holds its transaction
        out, _ = processes[1].communicate(timeout=30)
        rest, _ = processes[0].communicate(timeout=30)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    assert [p.returncode for p in processes] == [0, 0], (out, rest)
    assert json.loads(out.splitlines()[0])["count"] == 2  # B saw A's row, after A's commit
    [row] = Notification.objects.all()
    assert row.count == 2 and row.group == stored["stored"]
    assert sorted(a["username"] for a in row.actors) == ["alice", "carol"]
    assert (row.recipient_id, row.actor_id) == (bob.pk, carol.pk)


async def test_pushes_of_typed_notifications_render_once_per_language(amake_user: Any) -> None:
    """Three Chinese sockets of bob in one process: one rendering, shared."""
    from livebell.payloads import localize_frame

    bob, alice = await amake_user("bob"), await amake_user("alice")
    post = await Post.objects.acreate(title="Hello")
    sockets = [await connect_synced(bob, headers=CHINESE) for _ in range(3)]
    localize_frame.cache_clear()
    await anotify(bob, type="post.commented", actor=alice, target=post)
    for socket in sockets:
        assert "评论" in (await receive_json(socket))["notification"]["text"]
        await socket.disconnect()
    info = localize_frame.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    await asyncio.sleep(0)
