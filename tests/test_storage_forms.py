"""The rows' INSERT in each database's fast form and in the portable one.

PostgreSQL writes a notification's rows from arrays (``unnest``), MariaDB/MySQL and
SQLite from a JSON array of recipients (``JSON_TABLE``, ``json_each``); every
database could write them as a multi-row ``VALUES`` (the portable form). Stored
through both, any sequence of calls (one or many recipients, stored together as a
group commit stores them, grouping types merging into earlier rows) gives the same
rows, the same state and the same pushes, ids aside: those are compared by rank.
"""

from __future__ import annotations

import contextlib
from typing import Any
from unittest import mock

import orjson
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livebell import sending
from livebell.models import Notification
from livebell.storage import inserts, state
from tests.testapp.models import Post

#: The form each database is expected to use (so the test compares two forms).
FAST = {"postgresql": "postgresql", "mysql": "json", "sqlite": "json"}

# A call: its recipients (indexes into the users), a grouping type or none, an actor.
CALLS = st.lists(
    st.tuples(
        st.lists(st.integers(0, 7), min_size=1, max_size=8, unique=True),
        st.booleans(),
        st.integers(0, 7),
        st.sampled_from([None, {}, {"n": 1}, {"text": "é ✓", "list": [1, None, True]}]),
    ),
    min_size=1,
    max_size=4,
)


def _stored(
    users: list[Any],
    post: Post,
    batches: list[list[Any]],
    form: str | None,
    json_from: int = inserts.JSON_FORM_FROM,
) -> Any:
    """Store the batches of calls (each batch in one transaction, as a group commit
    does) with ``form`` (None: the database's own; notifications with ``json_from``
    recipients or more in the JSON form, the others in multi-row ``VALUES``); what the
    database then holds and what would be pushed, with every id replaced by its rank."""
    pushes: list[Any] = []
    real_store = sending._store

    def recording(plans: Any, using: str) -> Any:
        rows, made = real_store(plans, using)
        pushes.extend(made)
        return rows, made

    forced: Any = (
        mock.patch.object(inserts, "_insert_form", lambda c: form)
        if form
        else contextlib.nullcontext()
    )
    # Rolled back at the end of the block: both forms store from the same state.
    with (
        transaction.atomic(),
        mock.patch.object(sending, "_store", recording),
        mock.patch.object(inserts, "JSON_FORM_FROM", json_from),
        forced,
    ):
        for batch in batches:
            calls = [
                sending._Call(
                    recipients=[users[i] for i in recipients],
                    verb=None if grouping else "did something",
                    type="post.liked" if grouping else None,
                    actor=users[actor],
                    target=post,
                    data=data,
                    level=None,
                )
                for recipients, grouping, actor, data in batch
            ]
            for outcome in sending._store_calls(calls):
                assert not isinstance(outcome, Exception), outcome
        rows = list(
            Notification.objects.filter(recipient__in=users)
            .order_by("id")
            .values_list("id", "recipient_id", "verb", "type", "data", "actors", "count", "group")
        )
        states = state.current([user.pk for user in users])
        transaction.set_rollback(True)

    ids = sorted(
        {row[0] for row in rows}
        | {row[7] for row in rows if row[7]}
        | {p.id for p in pushes}
        | {p.previous_id for p in pushes if p.previous_id}
        | {s.last_id for s in states.values() if s.last_id}
    )
    rank = {pk: i + 1 for i, pk in enumerate(ids)}
    rank[0] = 0
    rank[None] = None

    def frame(text: str) -> Any:
        payload = orjson.loads(text)
        notification = payload["notification"]
        notification["id"] = rank[notification["id"]]
        notification["group"] = rank.get(notification.get("group"), notification.get("group"))
        notification.pop("created_at", None)
        return payload

    return (
        [(rank[pk], rcpt, *rest[:5], rank[rest[5]]) for pk, rcpt, *rest in rows],
        [
            (rank[p.id], rank[p.previous_id], p.unread_count, p.revision, p.group, frame(p.frame))
            for p in pushes
        ],
        {user_id: (rank[s.last_id], s.unread_count, s.revision) for user_id, s in states.items()},
    )


@pytest.mark.django_db
def test_each_database_inserts_in_its_own_fast_form() -> None:
    # So that the test below compares a fast form with the portable one, not with itself.
    assert inserts._insert_form(connection) == FAST[connection.vendor]


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=CALLS, split=st.integers(1, 4), json_from=st.integers(1, 9))
def test_the_fast_insert_stores_and_pushes_what_the_portable_one_does(
    django_user_model: Any, calls: list[Any], split: int, json_from: int
) -> None:
    # The examples share the test's transaction: the users and post are made by the first.
    users = [django_user_model.objects.get_or_create(username=f"f{i}")[0] for i in range(8)]
    post = Post.objects.get_or_create(title="a post")[0]
    batches = [calls[i : i + split] for i in range(0, len(calls), split)]
    # json_from cuts the calls into runs of both INSERT forms, as calls of many and of
    # few recipients stored together are.
    fast = _stored(users, post, batches, None, json_from)
    portable = _stored(users, post, batches, "values")
    assert fast == portable
    rows, pushes, _ = fast
    assert len(pushes) == sum(len(recipients) for recipients, *_ in calls)
    assert {row[1] for row in rows} <= {user.pk for user in users}


@pytest.mark.django_db
def test_the_fast_insert_of_more_recipients_than_one_statement_takes(
    django_user_model: Any, settings: Any
) -> None:
    settings.LIVEBELL = {**getattr(settings, "LIVEBELL", {}), "BATCH_SIZE": 7}
    django_user_model.objects.bulk_create(django_user_model(username=f"b{i}") for i in range(30))
    users = list(django_user_model.objects.filter(username__startswith="b").order_by("pk"))
    post = Post.objects.create(title="a post")
    batches = [[(list(range(30)), False, 0, {"k": "v"}), (list(range(3, 20)), False, 1, None)]]
    fast = _stored(users, post, batches, None)
    assert fast == _stored(users, post, batches, "values")
    assert len(fast[0]) == 47


@pytest.mark.django_db
def test_calls_of_few_recipients_stored_together_share_one_insert(
    django_user_model: Any,
) -> None:
    """A group commit of single-recipient calls is one multi-row INSERT, not a
    statement per call; a call of many recipients between them takes the JSON form
    on MariaDB/MySQL and SQLite, in order (PostgreSQL's arrays take all three at once)."""
    users = [django_user_model.objects.create(username=f"s{i}") for i in range(40)]
    many = users[:20]
    calls = [
        sending._Call([user], "did something", None, None, None, None, None) for user in users[:10]
    ]
    calls.append(sending._Call(many, "told many", None, None, None, None, None))
    calls += [
        sending._Call([user], "did more", None, None, None, None, None) for user in users[10:]
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = sending._store_calls(calls)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    table = connection.ops.quote_name(Notification._meta.db_table)
    inserts = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith(f"INSERT INTO {table}")
    ]
    # Before the call of many, its own statement, after it: the rows in call order.
    assert len(inserts) == (1 if connection.vendor == "postgresql" else 3)
    rows = list(Notification.objects.order_by("pk").values_list("verb", "recipient_id"))
    assert rows == (
        [("did something", u.pk) for u in users[:10]]
        + [("told many", u.pk) for u in many]
        + [("did more", u.pk) for u in users[10:]]
    )
