"""notify_each(): several notify() calls stored as one, with what each call alone stores."""

from __future__ import annotations

from typing import Any
from unittest import mock

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from livebell import notify, notify_each
from livebell.models import InboxState, Notification
from tests.testapp.models import Post

pytestmark = pytest.mark.django_db

FIELDS = ("verb", "level", "type", "data", "actor_id", "target_object_id", "target_text", "count")


def _calls(alice: Any, people: list[Any], post: Post) -> list[dict[str, Any]]:
    """Per-recipient data, a call to several, a typed one with a target, levels."""
    return [
        *({"recipients": p, "verb": "answered", "data": {"for": i}} for i, p in enumerate(people)),
        {"recipients": people[:3], "verb": "posted", "actor": alice, "target": post},
        {"recipients": people[1], "type": "post.commented", "actor": alice, "target": post},
        {"recipients": people[2], "verb": "warned", "level": "warning"},
    ]


def _stored(people: list[Any]) -> list[Any]:
    """What each person's inbox holds, in order, and their state, without ids."""
    inboxes = []
    for person in people:
        rows = Notification.objects.filter(recipient=person).order_by("id")
        state = InboxState.objects.get(user=person)
        inboxes.append(
            (
                [tuple(getattr(row, f) for f in FIELDS) for row in rows],
                (state.unread_count, state.revision),
            )
        )
    return inboxes


def _frames(sent: mock.Mock, people: list[Any]) -> list[list[Any]]:
    """Each person's pushed frames, in order, without what differs between two runs."""
    by_user: dict[Any, list[Any]] = {p.pk: [] for p in people}
    for call in sent.call_args_list:
        for push in call.args[0]:
            frame = orjson.loads(push.frame)
            user = next(p.pk for p in people if push.group.endswith(f".{p.pk}"))
            for part in (frame, frame.get("notification", {})):
                for key in ("id", "created_at", "previous_id", "group"):
                    part.pop(key, None)
            by_user[user].append((frame, push.unread_count))
    return [by_user[p.pk] for p in people]


def test_stores_pushes_and_counts_what_the_calls_one_by_one_would(
    make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    alice = make_user("alice")
    post = Post.objects.create(title="Hello")
    together = [make_user(f"t{i}") for i in range(5)]
    alone = [make_user(f"a{i}") for i in range(5)]

    with (
        mock.patch("livebell.layer.delivery.send") as sent_together,
        django_capture_on_commit_callbacks(execute=True),
    ):
        returned = notify_each(_calls(alice, together, post))
    with (
        mock.patch("livebell.layer.delivery.send") as sent_alone,
        django_capture_on_commit_callbacks(execute=True),
    ):
        one_by_one = [notify(**call) for call in _calls(alice, alone, post)]

    assert _stored(together) == _stored(alone)
    assert [len(rows) for rows in returned] == [len(rows) for rows in one_by_one]
    assert all(row.pk for rows in returned for row in rows)
    assert _frames(sent_together, together) == _frames(sent_alone, alone)
    assert sent_together.call_count == 1  # one publish for every call


def test_costs_a_few_statements_not_a_transaction_per_call(make_user: Any) -> None:
    people = [make_user(f"p{i}") for i in range(30)]
    with CaptureQueriesContext(connection) as queries:
        rows = notify_each({"recipients": p, "verb": "hi", "data": {"i": p.pk}} for p in people)
    assert [row.data for [row] in rows] == [{"i": p.pk} for p in people]
    # Alone, each call would lock, insert, record and commit (4+ statements each).
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]


@pytest.mark.parametrize(
    ("item", "error", "message"),
    [
        ({"verb": "hi"}, TypeError, "needs its recipients"),
        ({"recipients": None, "verb": "hi", "colour": "red"}, TypeError, "'colour'"),
        ("hi", TypeError, "mappings"),
        ({"recipients": "BOB", "verb": ""}, ValueError, "verb"),
    ],
)
def test_one_refused_call_stores_none(make_user: Any, item: Any, error: Any, message: str) -> None:
    bob = make_user("bob")
    if isinstance(item, dict) and item.get("recipients") == "BOB":
        item = {**item, "recipients": bob}
    with pytest.raises(error, match=message):
        notify_each([{"recipients": bob, "verb": "fine"}, item])
    assert not Notification.objects.exists()


def test_no_calls_store_nothing() -> None:
    assert notify_each([]) == []
