"""notify(): validation, storage, batching, and what it returns."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from livebell import notify, sending
from livebell.models import Notification
from livebell.storage import inserts
from tests.testapp.models import Post, Tag

pytestmark = pytest.mark.django_db


def test_stores_one_row_with_every_field(make_user: Any) -> None:
    bob, alice = make_user("bob"), make_user("alice")
    post = Post.objects.create(title="Hello")

    [n] = notify(bob, "liked your post", actor=alice, target=post, data={"k": 1}, level="success")

    stored = Notification.objects.get()
    assert stored.pk == n.pk
    assert (stored.recipient, stored.actor, stored.verb, stored.level) == (
        bob,
        alice,
        "liked your post",
        "success",
    )
    assert stored.target == post
    assert (stored.target_text, stored.target_url) == ("Hello", f"/posts/{post.pk}/")
    assert stored.data == {"k": 1}
    assert stored.read_at is None and stored.unread


@pytest.mark.parametrize("init_listener", [False, True])
def test_returned_rows_are_the_stored_rows_whatever_listens_to_init(
    make_user: Any, init_listener: bool
) -> None:
    from django.db.models import signals

    bob, carol, alice = make_user("bob"), make_user("carol"), make_user("alice")
    post = Post.objects.create(title="Hello")
    initialised: list[Any] = []

    def listener(sender: Any, instance: Any, **kwargs: Any) -> None:
        initialised.append(instance)

    if init_listener:  # rows must then be built through Model.__init__, which sends it
        signals.post_init.connect(listener, sender=Notification)
    try:
        rows = notify([bob, carol], "liked your post", actor=alice, target=post, data={"k": [1]})
    finally:
        signals.post_init.disconnect(listener, sender=Notification)
    if init_listener:
        assert all(any(row is seen for seen in initialised) for row in rows)
    fields = [f.attname for f in Notification._meta.concrete_fields]
    stored = {n.pk: n for n in Notification.objects.all()}
    for row in rows:
        assert [getattr(row, name) for name in fields] == [
            getattr(stored[row.pk], name) for name in fields
        ]
        assert (row._state.adding, row._state.db) == (False, "default")
    # The objects the caller passed, without a query; a row saves as any other.
    with CaptureQueriesContext(connection) as queries:
        assert [(row.actor, row.recipient_id) for row in rows] == [
            (alice, bob.pk),
            (alice, carol.pk),
        ]
        assert rows[0].target_content_type.model == "post"
    assert len(queries) == 0
    rows[0].verb = "changed"
    rows[0].save(update_fields=["verb"])
    assert Notification.objects.get(pk=rows[0].pk).verb == "changed"
    assert rows[0].recipient == bob


def test_target_without_url_stores_empty_url(make_user: Any) -> None:
    tag = Tag.objects.create(name="django")
    [n] = notify(make_user("bob"), "tagged you", target=tag)
    assert (n.target_text, n.target_url) == ("django", "")


def test_list_and_queryset_recipients_deduplicated(make_user: Any, django_user_model: Any) -> None:
    bob, carol = make_user("bob"), make_user("carol")
    assert [n.recipient_id for n in notify([bob, carol, bob], "x")] == [bob.pk, carol.pk]
    rows = notify(django_user_model.objects.order_by("username"), "y")
    assert sorted(n.recipient_id for n in rows) == sorted([bob.pk, carol.pk])
    assert Notification.objects.count() == 4


def test_ten_thousand_recipients_use_batched_inserts(django_user_model: Any) -> None:
    django_user_model.objects.bulk_create(
        django_user_model(username=f"u{i}") for i in range(10_000)
    )
    users = django_user_model.objects.all()
    with CaptureQueriesContext(connection) as queries:
        rows = notify(users, "announcement")
    inserts = [q for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(rows) == 10_000 == Notification.objects.count()
    assert len({n.pk for n in rows}) == 10_000 and all(n.pk for n in rows)
    # At most BATCH_SIZE (1000) rows per INSERT; SQLite's parameter limit splits further
    # (about 90 rows). Either way, a few statements, never one per row.
    assert 10 <= len(inserts) <= 10_000 // 50


def test_plans_stored_together_keep_each_its_own_fields(make_user: Any, settings: Any) -> None:
    """Several notifications in one store(), split into statements across plans: on
    PostgreSQL the columns the statement's rows share go once, the others as arrays.
    Every row must still hold its own plan's values in every column."""
    settings.LIVEBELL = {"BATCH_SIZE": 3}
    alice, *users = [make_user(name) for name in ("alice", "u0", "u1", "u2", "u3", "u4")]
    post = Post.objects.create(title="Hello")
    calls = [
        sending._Call(users, "a", None, alice, post, {"k": 1}, None),
        sending._Call(users[1], "b", None, None, None, None, "warning"),
        sending._Call(users[2:4], "a", None, alice, post, {"k": 2}, None),
        sending._Call(users[4], "a", None, alice, None, {"k": 1}, "error"),
    ]
    plans = [sending._draft(call) for call in calls]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        rows, _ = inserts.store(plans, "default")
    insert_queries = [q for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(insert_queries) >= 3  # 9 rows, at most 3 per statement

    fields = [f.attname for f in Notification._meta.concrete_fields]
    stored = {n.pk: n for n in Notification.objects.all()}
    assert len(stored) == len(rows) == 9
    expected = [
        (call.verb, user.pk, call.actor, call.target, call.data or {}, call.level or "info")
        for call in calls
        for user in (call.recipients if isinstance(call.recipients, list) else [call.recipients])
    ]
    for row, (verb, recipient_id, actor, target, data, level) in zip(rows, expected, strict=True):
        assert [getattr(row, name) for name in fields] == [
            getattr(stored[row.pk], name) for name in fields
        ]
        got = stored[row.pk]
        assert (got.verb, got.recipient_id, got.actor, got.data, got.level) == (
            verb,
            recipient_id,
            actor,
            data,
            level,
        )
        assert got.target == target


def test_bulk_insert_without_returning_ids_reads_rows_back(make_user: Any) -> None:
    """The MySQL path: no ids from a multi-row INSERT."""
    bob, carol = make_user("bob"), make_user("carol")
    notify(bob, "earlier")
    with mock.patch.object(
        type(connection.features),
        "can_return_rows_from_bulk_insert",
        new_callable=mock.PropertyMock,
        return_value=False,
    ):
        rows = notify([carol, bob], "later", actor=carol)
    assert [n.recipient_id for n in rows] == [carol.pk, bob.pk]
    assert all(n.pk and n.actor == carol for n in rows)
    assert set(Notification.objects.filter(verb="later").values_list("pk", flat=True)) == {
        n.pk for n in rows
    }


def test_verb_is_stripped(make_user: Any) -> None:
    [n] = notify(make_user("bob"), "  waved  ")
    assert n.verb == "waved"


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


# Within DATA_MAX_BYTES, past orjson's 255 levels; and past what json's encoder
# recurses into (about 1,000 levels on Python 3.11, more on 3.13).
DEEP, DEEPER = nested(300), nested(100_000)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"verb": ""}, ValueError, "verb must not be empty"),
        ({"verb": "   "}, ValueError, "verb must not be empty"),
        ({"verb": "x" * 129}, ValueError, "at most 128"),
        ({"verb": 5}, TypeError, "verb must be a string"),
        ({"level": "loud"}, ValueError, "level must be one of"),
        ({"data": {"when": object()}}, TypeError, "JSON-serialisable"),
        ({"data": {"n": float("nan")}}, TypeError, "JSON-serialisable"),
        ({"data": [1, 2]}, TypeError, "data must be a dict"),
        ({"data": {"big": "x" * 9000}}, ValueError, "the limit is 8192"),
        # What json takes and orjson, the push's encoder, refuses: refused up front.
        ({"data": {"n": 2**64}}, ValueError, "cannot be sent.*64-bit"),
        ({"data": {"n": [-(2**63) - 1]}}, ValueError, "cannot be sent.*64-bit"),
        ({"data": {"deep": DEEP}}, ValueError, "cannot be sent.*[Rr]ecursion"),
        ({"data": {"deeper": DEEPER}}, ValueError, "nested too deeply"),
        ({"actor": "alice"}, TypeError, r"actor must be an instance of auth\.User, not str\."),
        ({"target": "post"}, TypeError, "target must be a model instance"),
        ({"target": Post(title="unsaved")}, ValueError, "target must be saved"),
    ],
)
def test_bad_input_raises_and_stores_nothing(
    make_user: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    bob = make_user("bob")
    args = {"verb": "ok", **kwargs}
    verb = args.pop("verb")
    with pytest.raises(error, match=message):
        notify(bob, verb, **args)
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("recipients", "error", "message"),
    [
        (None, ValueError, "at least one recipient"),
        ([], ValueError, "at least one recipient"),
        ("bob", TypeError, "recipients must be"),
        ([object()], TypeError, "each recipient must be"),
        (Post.objects.all(), TypeError, "QuerySet of auth.User"),
    ],
)
def test_bad_recipients_raise(recipients: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        notify(recipients, "hello")
    assert not Notification.objects.exists()


def test_empty_queryset_raises(django_user_model: Any) -> None:
    with pytest.raises(ValueError, match="at least one recipient"):
        notify(django_user_model.objects.none(), "hello")


def test_unsaved_recipient_raises(django_user_model: Any) -> None:
    with pytest.raises(TypeError, match="must be saved"):
        notify(django_user_model(username="ghost"), "hello")


def test_data_round_trips_to_what_the_database_returns(make_user: Any) -> None:
    [n] = notify(make_user("bob"), "x", data={1: (1, 2)})
    assert n.data == {"1": [1, 2]}
    assert Notification.objects.get().data == n.data
