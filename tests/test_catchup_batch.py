"""Concurrent catch-ups share one database round trip, and give exactly what one
catch-up per socket would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from livebell import inbox, notify
from livebell.models import Notification
from livebell.storage import catchup
from tests.conftest import count_batches, open_socket, receive_json


@pytest.mark.django_db
def test_catch_up_many_equals_one_catch_up_per_socket(
    make_user: Any, django_assert_num_queries: Any
) -> None:
    bob, carol, dave, erin = (make_user(name) for name in ("bob", "carol", "dave", "erin"))
    for i in range(12):
        notify([bob, carol] if i % 3 else [bob], f"n{i}", actor=dave, data={"i": i})
    oldest_two = list(Notification.objects.for_user(bob).order_by("pk")[:2])
    inbox.mark_read(bob, [n.pk for n in oldest_two])
    bob_ids = list(Notification.objects.for_user(bob).order_by("pk").values_list("pk", flat=True))
    carol_ids = list(
        Notification.objects.for_user(carol).order_by("pk").values_list("pk", flat=True)
    )
    requests = [
        (bob.pk, bob_ids[3]),  # a gap of 8
        (bob.pk, 0),  # everything: 12 > limit, truncated
        (bob.pk, None),  # a plain connect
        (carol.pk, carol_ids[-1]),  # nothing newer
        (carol.pk, carol_ids[-1] + 1000),  # claims more than exists
        (dave.pk, 5),  # no inbox at all
        (erin.pk, None),
        (carol.pk, carol_ids[0]),
    ]
    with django_assert_num_queries(2):
        batched = catchup.catch_up_many(requests, limit=10)
    one_by_one = [catchup.catch_up(user_id, after, limit=10) for user_id, after in requests]
    assert batched == one_by_one
    assert [n["id"] for n in batched[0].notifications] == bob_ids[4:]
    assert batched[1].truncated and [n["id"] for n in batched[1].notifications] == bob_ids[2:]
    assert (batched[2].last_id, batched[2].unread_count) == (bob_ids[-1], 10)
    assert batched[5] == catchup.CatchUp([], last_id=0, unread_count=0, revision=0, truncated=False)


@pytest.mark.django_db(transaction=True)
async def test_a_reconnect_storm_is_caught_up_in_batches(
    amake_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 sockets resume at once: each gets exactly its own missed rows, and the
    database thread serves them in fewer round trips than sockets."""
    users = [await amake_user(f"u{i}") for i in range(30)]
    first = await sync_to_async(notify)(users, "seen")
    seen = {row.recipient_id: row.pk for row in first}
    missed: dict[Any, list[int]] = {user.pk: [] for user in users}
    for i in range(3):
        for row in await sync_to_async(notify)(users, f"missed {i}"):
            missed[row.recipient_id].append(row.pk)

    batches = count_batches(monkeypatch, catchup._catch_ups)

    sockets = [
        await open_socket(user, path=f"/ws/notifications/?last_id={seen[user.pk]}")
        for user in users
    ]
    await asyncio.gather(*(socket.connect() for socket in sockets))
    for user, socket in zip(users, sockets, strict=True):
        frames = [await receive_json(socket) for _ in range(4)]
        assert [f["notification"]["id"] for f in frames[:3]] == missed[user.pk]
        assert frames[3] == {"type": "synced", "last_id": missed[user.pk][-1], "unread_count": 4}
        assert await socket.receive_nothing(timeout=0.01)
    assert sum(batches) == len(users) and max(batches) > 1, batches
    await asyncio.gather(*(socket.disconnect() for socket in sockets))


# transaction=True: ANALYZE TABLE commits on MySQL/MariaDB, so the rows are flushed after.
@pytest.mark.django_db(transaction=True)
def test_a_batch_of_catch_ups_reads_index_ranges_not_the_table(make_user: Any) -> None:
    """The batched query's condition reaches each database's optimizer as ranges of
    the (recipient, id) index. Written as ``WHERE (…) = 1``, as Django before 6.1
    does for a raw condition on MySQL/MariaDB, it made the catch-up scan the whole
    notification table there."""
    users = [make_user(f"reader{i}") for i in range(40)]
    for i in range(50):
        notify(users, f"n{i}")
    table = Notification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            {
                "postgresql": f"ANALYZE {table}",
                "mysql": f"ANALYZE TABLE {table}",
                "sqlite": "ANALYZE",
            }[connection.vendor]
        )
        if connection.vendor == "mysql":
            cursor.fetchall()
    requests = [
        (user.pk, Notification.objects.for_user(user).order_by("-pk")[3].pk) for user in users[:10]
    ]
    with CaptureQueriesContext(connection) as queries:
        caught_up = catchup.catch_up_many(requests, limit=10)
    assert [len(found.notifications) for found in caught_up] == [3] * 10
    plan = _plan(queries.captured_queries[-1]["sql"])
    assert table in plan
    whole_table = {
        "postgresql": f"Seq Scan on {table}",
        "mysql": f"'{table}', 'ALL'",
        "sqlite": f"SCAN {table}",
    }[connection.vendor]
    assert whole_table not in plan, plan


def _plan(sql: str) -> str:
    """The database's plan for ``sql``, one line per step."""
    explain = {
        "postgresql": "EXPLAIN ",
        "mysql": "EXPLAIN ",
        "sqlite": "EXPLAIN QUERY PLAN ",
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(explain + sql)
        return "\n".join(
            str(row[-1]) if connection.vendor == "sqlite" else str(row) for row in cursor.fetchall()
        )
