"""Marking a whole inbox read (:mod:`livebell.storage.marking`): the user's rows only.

On MariaDB/MySQL the ``UPDATE`` must read the user's unread rows by the index that
leads with the recipient: InnoDB locks every row an ``UPDATE`` reads, and read by the
primary key it locked other users' rows, which a retention batch deleting them
deadlocked with (CI, ``test_prune``'s two-process test, in ``REPEATABLE READ``).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livebell import inbox, notify
from livebell.models import Notification
from livebell.storage import marking
from tests.locks import can_lock_now


def _interleaved(bob: Any, alice: Any, rounds: int = 3) -> tuple[list[int], list[int]]:
    """``rounds`` notifications each for bob and alice, in turn: their ids interleave."""
    bobs, alices = [], []
    for i in range(rounds):
        bobs.append(notify(bob, f"bob {i}")[0].pk)
        alices.append(notify(alice, f"alice {i}")[0].pk)
    return bobs, alices


def _unread(user: Any) -> list[int]:
    return sorted(Notification.objects.for_user(user).unread().values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bounded", [False, True], ids=["all", "up-to-an-id"])
def test_marking_all_read_reads_the_users_unread_rows_by_its_index(
    make_user: Any, bounded: bool
) -> None:
    """On this small table, and with ``before_id``, MariaDB chose the primary key:
    every user's rows up to the bound. The statement that ran must read the index
    on (recipient, id) there; on every database it changes bob's rows only."""
    bob, alice = make_user("bob"), make_user("alice")
    bobs, alices = _interleaved(bob, alice)
    before = bobs[1] if bounded else None
    table = Notification._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert inbox.mark_all_read(bob, before_id=before) == (2 if bounded else 3)
    assert _unread(bob) == (bobs[2:] if bounded else [])
    assert _unread(alice) == alices
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith(f"UPDATE `{table}`")
    ]
    if connection.vendor == "mysql":
        assert len(updates) == 1, queries.captured_queries
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + updates[0])
            columns = [c[0] for c in cursor.description]
            plan = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        assert [row["key"] for row in plan] == [marking.RECIPIENT_INDEX], plan


@pytest.mark.django_db(transaction=True)
def test_marking_all_read_leaves_other_users_rows_free_to_lock(make_user: Any) -> None:
    """Until its transaction ends, marking bob's inbox read up to an id holds locks on
    bob's rows only: alice's can be locked (a retention batch deletes them) at once.
    In ``REPEATABLE READ``, where InnoDB keeps the lock of every row read, and of the
    first index entry after them: bob has a row after the bound, so that entry is his
    (marking.py says what happens when he has none)."""
    bob, alice = make_user("bob"), make_user("alice")
    bobs, alices = _interleaved(bob, alice)
    with transaction.atomic():
        if connection.vendor == "mysql":
            with connection.cursor() as cursor:  # this transaction only
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert inbox.mark_all_read(bob, before_id=bobs[1]) == 2
        if connection.vendor != "sqlite":  # no row locks: one writer at a time
            assert can_lock_now(Notification, alices)
            assert not can_lock_now(Notification, bobs[:2])  # so the probe above can fail
    assert _unread(bob) == bobs[2:] and _unread(alice) == alices


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_marking_all_read_changes_what_the_orm_update_changes(
    django_user_model: Any, data: st.DataObject
) -> None:
    """The database's own form (MariaDB/MySQL: the raw ``UPDATE`` with its index
    named) changes the same rows as the ORM's ``update()``, which the others run."""
    users = [django_user_model.objects.get_or_create(username=f"m{i}")[0] for i in range(3)]
    Notification.objects.filter(recipient__in=users).delete()
    rows = data.draw(st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=12))
    ids = [
        Notification.objects.create(
            recipient=users[who], verb="x", read_at=None if unread else "2026-01-01T00:00Z"
        ).pk
        for who, unread in rows
    ]
    user = data.draw(st.sampled_from(users))
    before = data.draw(st.none() | st.sampled_from(ids or [0]))
    expected = Notification.objects.for_user(user).unread()
    if before is not None:
        expected = expected.filter(pk__lte=before)
    changed = set(expected.values_list("pk", flat=True))
    unchanged = dict(Notification.objects.exclude(pk__in=changed).values_list("pk", "read_at"))
    with transaction.atomic():
        count = marking.mark_all_read(user.pk, before, timezone.now(), connection.alias)
    assert count == len(changed)
    assert not Notification.objects.filter(pk__in=changed, read_at__isnull=True).exists()
    assert dict(Notification.objects.exclude(pk__in=changed).values_list("pk", "read_at")) == (
        unchanged
    )
