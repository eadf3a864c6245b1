"""Pushes go to the recipient's own group, only after commit, on every channel layer."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from livebell import anotify, notify
from livebell.layer import delivery, messages
from livebell.layer.groups import fanout_group, user_group
from livebell.models import Notification

pytestmark = [pytest.mark.django_db(transaction=True)]


async def assert_silent(next_message: Any, within: float = 0.3) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await next_message(timeout=within)


async def test_commit_pushes_once_to_the_recipient_only(
    layer_kind: str, amake_user: Any, group_listener: Any
) -> None:
    bob, alice = await amake_user("bob"), await amake_user("alice")
    bob_inbox = await group_listener(user_group(bob.pk))
    alice_inbox = await group_listener(user_group(alice.pk))

    def create_in_transaction() -> Any:
        with transaction.atomic():
            return notify(bob, "liked your post", actor=alice)

    [n] = await sync_to_async(create_in_transaction)()

    [push] = messages.decode(await bob_inbox())
    assert isinstance(push, messages.Push) and push.id == n.pk and push.previous_id == 0
    assert (push.unread_count, push.group) == (1, user_group(bob.pk))
    frame = orjson.loads(push.frame)
    assert frame["type"] == "notification" and frame["unread_count"] == 1
    assert frame["notification"]["id"] == n.pk
    assert frame["notification"]["actor"] == {"id": alice.pk, "username": "alice"}
    await assert_silent(bob_inbox)  # exactly once
    await assert_silent(alice_inbox)


async def test_rollback_pushes_nothing(
    layer_kind: str, amake_user: Any, group_listener: Any
) -> None:
    bob = await amake_user("bob")
    inbox = await group_listener(user_group(bob.pk))

    class Abort(Exception):
        pass

    def create_then_fail() -> None:
        with transaction.atomic():
            notify(bob, "never")
            raise Abort

    with pytest.raises(Abort):
        await sync_to_async(create_then_fail)()
    await assert_silent(inbox, within=0.5)
    from livebell.models import Notification

    assert not await Notification.objects.aexists()


async def test_push_waits_for_the_outermost_commit(
    layer_kind: str, amake_user: Any, group_listener: Any
) -> None:
    bob = await amake_user("bob")
    inbox = await group_listener(user_group(bob.pk))
    pushed_inside: list[bool] = []

    def nested() -> None:
        with transaction.atomic():
            with transaction.atomic():
                notify(bob, "inner")
            # Still inside the outer transaction: nothing may have been pushed.
            pushed_inside.append(delivery.stats.pushed > before)

    before = delivery.stats.pushed
    await sync_to_async(nested)()
    assert pushed_inside == [False]
    [push] = messages.decode(await inbox())
    assert isinstance(push, messages.Push)
    assert orjson.loads(push.frame)["notification"]["verb"] == "inner"


async def test_pushes_to_many_recipients_are_one_fanout_message(
    layer_kind: str, amake_user: Any, group_listener: Any
) -> None:
    """Several recipients: ONE layer message to the fan-out group, nothing per user."""
    bob, carol = await amake_user("bob"), await amake_user("carol")
    await anotify(bob, "first")
    fanout = await group_listener(fanout_group())
    bob_inbox = await group_listener(user_group(bob.pk))

    rows = await anotify([bob, carol], "second", data={"post": 7})

    pushes = messages.decode(await fanout())
    by_group = {push.group: push for push in pushes if isinstance(push, messages.Push)}
    assert set(by_group) == {user_group(bob.pk), user_group(carol.pk)} and len(pushes) == 2
    bob_push, carol_push = by_group[user_group(bob.pk)], by_group[user_group(carol.pk)]
    assert {bob_push.id, carol_push.id} == {r.pk for r in rows}
    assert 0 < bob_push.previous_id < bob_push.id and carol_push.previous_id == 0
    assert (bob_push.unread_count, carol_push.unread_count) == (2, 1)
    assert orjson.loads(bob_push.frame)["notification"]["id"] == bob_push.id
    assert orjson.loads(carol_push.frame)["notification"]["data"] == {"post": 7}
    await assert_silent(fanout)  # one message for the whole batch
    await assert_silent(bob_inbox)  # and nothing per user


async def test_fanout_messages_are_bounded_by_batch_size(
    layer_kind: str, amake_user: Any, group_listener: Any, settings: Any
) -> None:
    settings.LIVEBELL = {"BATCH_SIZE": 2}
    users = [await amake_user(f"u{i}") for i in range(5)]
    fanout = await group_listener(fanout_group())
    rows = await anotify(users, "hello")
    sizes = [len(list(messages.decode(await fanout()))) for _ in range(3)]
    assert sizes == [2, 2, 1]
    await assert_silent(fanout)
    assert len(rows) == 5


async def test_failed_push_is_counted_and_not_raised(
    amake_user: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead channel layer must not break the caller: the row is stored regardless."""
    from tests.conftest import free_port

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}"]},  # nothing listens
        }
    }
    bob = await amake_user("bob")
    failed_before = delivery.stats.failed
    rows = await sync_to_async(notify)(bob, "stored anyway")
    assert rows[0].pk
    assert delivery.stats.failed == failed_before + 1
    assert "message(s) given up" in caplog.text and "ConnectionError" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_sync_notify_outside_a_server_reuses_one_connection(make_user: Any, settings: Any) -> None:
    """From plain synchronous code (WSGI, Celery, commands) every notify() must not open
    a new Redis connection: pushes go through one long-lived loop per process."""
    from redis import Redis

    from tests.processes import RedisServer

    redis = RedisServer()
    redis.start()
    try:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [redis.url]},
            }
        }
        bob = make_user("bob")
        info = Redis.from_url(redis.url)
        pushed = delivery.stats.pushed
        before = info.info("stats")["total_connections_received"]
        for i in range(20):
            notify(bob, f"n{i}")
        opened = info.info("stats")["total_connections_received"] - before
        assert delivery.stats.pushed == pushed + 20
        assert opened <= 2, f"{opened} connections for 20 notify() calls"
    finally:
        redis.kill()


def test_rows_with_equal_values_share_one_payload_whatever_objects_they_hold(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frame cache is keyed by values, not by the identity of the rows' ``data``
    and ``actors``: rows read back from the database (an object each) build one
    payload, and a row whose data differs gets its own frame."""
    users = [make_user(f"reader{i}") for i in range(5)]
    stored = notify(users, "answered your question", data={"question": 7, "tags": ["a"]})
    rows = list(Notification.objects.filter(pk__in=[n.pk for n in stored]).order_by("pk"))
    assert len({id(row.data) for row in rows}) == len(rows)
    rows[-1].data = {"question": 8, "tags": ["a"]}
    built = []
    real = delivery.notification_payload

    def counted(n: Any) -> Any:
        built.append(n.pk)
        return real(n)

    monkeypatch.setattr(delivery, "notification_payload", counted)
    transitions = {row.pk: (0, 1, 1) for row in rows}
    frames = [orjson.loads(push.frame) for push in delivery.pushes(rows, transitions)]
    assert built == [rows[0].pk, rows[-1].pk]
    assert [f["notification"]["data"]["question"] for f in frames] == [7, 7, 7, 7, 8]
    assert [f["notification"]["id"] for f in frames] == [row.pk for row in rows]
