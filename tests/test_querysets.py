"""The QuerySet verbs behind the inbox."""

from __future__ import annotations

from typing import Any

import pytest

from livebell import notify
from livebell.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(make_user: Any) -> tuple[Any, Any, list[Notification]]:
    bob, alice = make_user("bob"), make_user("alice")
    rows = [notify(bob, f"n{i}")[0] for i in range(4)]
    notify(alice, "for alice")
    return bob, alice, rows


def test_for_user_and_unread(inbox: Any) -> None:
    bob, alice, rows = inbox
    assert list(Notification.objects.for_user(bob)) == rows[::-1]  # newest first
    assert Notification.objects.for_user(alice.pk).count() == 1
    assert Notification.objects.for_user(bob).unread_count() == 4


def test_mark_read_unread_and_all(inbox: Any) -> None:
    bob, alice, rows = inbox
    mine = Notification.objects.for_user(bob)
    assert mine.mark_read([rows[0].pk, rows[1].pk]) == 2
    assert mine.mark_read([rows[0].pk]) == 0  # already read
    assert set(mine.read().values_list("pk", flat=True)) == {rows[0].pk, rows[1].pk}
    assert mine.mark_unread([rows[0].pk]) == 1
    assert mine.mark_all_read(before_id=rows[2].pk) == 2  # rows 0 and 2; row 3 is newer
    assert list(mine.unread()) == [rows[3]]
    assert mine.mark_all_read() == 1
    assert Notification.objects.for_user(alice).unread_count() == 1  # untouched


def test_mark_read_scoped_to_queryset(inbox: Any) -> None:
    _, alice, rows = inbox
    assert Notification.objects.for_user(alice).mark_read([rows[0].pk]) == 0
    assert Notification.objects.get(pk=rows[0].pk).unread


def test_unread_counts_in_one_query(
    inbox: Any, make_user: Any, django_assert_num_queries: Any
) -> None:
    bob, alice, _ = inbox
    carol = make_user("carol")
    with django_assert_num_queries(1):
        counts = Notification.objects.unread_counts([bob.pk, alice.pk, carol.pk])
    assert counts == {bob.pk: 4, alice.pk: 1, carol.pk: 0}
