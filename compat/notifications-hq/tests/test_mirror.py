"""Each hq notification is a livebell notification too, and read state stays in step
whichever API changes it (notifications.mirror)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import override_settings

from livebell import inbox
from livebell.models import Notification as Twin
from notifications.models import Notification
from notifications.signals import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> tuple[User, User, User]:
    return (
        User.objects.create_user("alice", password="pwd"),
        User.objects.create_user("bob", password="pwd"),
        User.objects.create_user("carol", password="pwd"),
    )


def twin_of(row: Notification) -> Twin:
    return Twin.objects.get(data__hq__model="notifications.notification", data__hq__id=row.pk)


def send(actor: Any, recipient: Any, **options: Any) -> list[Notification]:
    options.setdefault("verb", "commented")
    [(_, rows)] = notify.send(actor, recipient=recipient, **options)
    return list(rows)


def test_notify_send_stores_a_twin_through_livebell(people: Any) -> None:
    alice, bob, carol = people
    team = Group.objects.create(name="team")
    [row] = send(alice, bob, action_object=carol, target=team, level="warning", description="d")
    twin = twin_of(row)
    assert (twin.recipient_id, twin.actor_id, twin.verb, twin.level) == (
        bob.pk,
        alice.pk,
        "commented",
        "warning",
    )
    assert (twin.target, twin.target_text, twin.unread) == (team, "team", True)
    assert twin.data["hq"] == {
        "model": "notifications.notification",
        "id": row.pk,
        "slug": row.slug,
        "actor": "alice",
        "action_object": "carol",
        "target": "team",
        "description": "d",
        "data": None,
    }
    assert inbox.unread_count(bob) == 1


def test_group_recipients_non_user_actors_and_long_verbs(people: Any) -> None:
    alice, bob, carol = people
    team = Group.objects.create(name="team")
    team.user_set.add(bob, carol)
    rows = send(team, team, verb="x" * 200)
    assert len(rows) == 2
    for row in rows:
        twin = twin_of(row)
        assert twin.actor_id is None and twin.data["hq"]["actor"] == "team"
        assert twin.verb == "x" * 127 + "…" and row.verb == "x" * 200
    # A plain create is mirrored too (post_save), not only notify.send().
    row = Notification.objects.create(recipient=alice, actor=bob, verb="waved")
    assert twin_of(row).actor_id == bob.pk


def test_marking_through_hq_marks_the_twin(people: Any) -> None:
    alice, bob, _ = people
    first, second, third = (send(alice, bob)[0] for _ in range(3))
    first.mark_as_read()
    assert not twin_of(first).unread and inbox.unread_count(bob) == 2
    first.mark_as_unread()
    assert twin_of(first).unread and inbox.unread_count(bob) == 3
    Notification.objects.filter(recipient=bob).mark_all_as_read()
    assert inbox.unread_count(bob) == 0
    assert not any(twin_of(row).unread for row in (first, second, third))
    Notification.objects.filter(pk=second.pk).mark_all_as_unread()
    assert twin_of(second).unread and inbox.unread_count(bob) == 1
    Notification.objects.filter(pk=third.pk).update(unread=True)  # any update(unread=…)
    assert inbox.unread_count(bob) == 2


def test_marking_through_livebell_marks_the_hq_row(
    people: Any, django_capture_on_commit_callbacks: Any
) -> None:
    alice, bob, _ = people
    first, second, third = (send(alice, bob)[0] for _ in range(3))
    with django_capture_on_commit_callbacks(execute=True):
        inbox.mark_read(bob, [twin_of(first).pk])
    first.refresh_from_db()
    assert not first.unread and bob.notifications.unread().count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        inbox.mark_unread(bob, [twin_of(first).pk])
    first.refresh_from_db()
    assert first.unread
    with django_capture_on_commit_callbacks(execute=True):
        inbox.mark_all_read(bob, before_id=twin_of(second).pk)
    assert list(bob.notifications.unread()) == [third]
    with django_capture_on_commit_callbacks(execute=True):
        inbox.mark_all_read(bob)
    assert bob.notifications.unread().count() == 0


def test_deleting_follows(people: Any) -> None:
    alice, bob, _ = people
    first, second = send(alice, bob)[0], send(alice, bob)[0]
    twin_id = twin_of(first).pk
    first.delete()
    assert not Twin.objects.filter(pk=twin_id).exists() and inbox.unread_count(bob) == 1
    # Deleted in livebell: the hq row stays.
    inbox.delete(bob, [twin_of(second).pk])
    assert Notification.objects.filter(pk=second.pk).exists()


@override_settings(DJANGO_NOTIFICATIONS_CONFIG={"SOFT_DELETE": True})
def test_soft_delete_removes_the_twin_and_restoring_stores_a_new_one(people: Any) -> None:
    alice, bob, _ = people
    row = send(alice, bob)[0]
    row.deleted = True
    row.save()
    assert not Twin.objects.exists() and inbox.unread_count(bob) == 0
    Notification.objects.mark_all_as_active()
    assert twin_of(row).unread and inbox.unread_count(bob) == 1
    Notification.objects.mark_all_as_deleted()
    assert not Twin.objects.exists()


def test_rows_stored_before_the_switch_get_twins_by_command(people: Any) -> None:
    from django.core.management import call_command

    from livebell.storage import state

    alice, bob, _ = people
    old = [send(alice, bob, target=alice)[0] for _ in range(3)]
    old[0].mark_as_read()
    # As if stored by hq itself: no twins, livebell counts nothing.
    Twin.objects.all().delete()
    state.rebuild([bob.pk])
    assert inbox.unread_count(bob) == 0

    call_command("notifications_livebell_twins", batch=2, verbosity=0)
    twins = [twin_of(row) for row in old]
    assert [t.created_at for t in twins] == [row.timestamp for row in old]
    assert [t.unread for t in twins] == [False, True, True]
    assert twins[1].target_text == "alice" and twins[1].actor_id == alice.pk
    assert inbox.unread_count(bob) == 2
    call_command("notifications_livebell_twins", verbosity=0)  # again: nothing new
    assert Twin.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_deleting_a_user_deletes_their_notifications_and_twins(people: Any) -> None:
    from livebell.models import InboxState

    alice, bob, _ = people
    send(alice, bob)
    send(bob, alice)
    bob.delete()
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["alice"]
    assert list(Twin.objects.values_list("recipient__username", flat=True)) == ["alice"]
    assert not InboxState.objects.filter(user_id=bob.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_livebells_rest_api_marks_the_hq_rows(people: Any) -> None:
    from django.test import Client

    alice, bob, _ = people
    first, second = send(alice, bob)[0], send(alice, bob)[0]
    client = Client()
    client.force_login(bob)
    response = client.post(
        "/api/notifications/mark-read/",
        {"ids": [twin_of(first).pk]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert list(bob.notifications.unread()) == [second]
    client.post("/api/notifications/mark-all-read/", {}, content_type="application/json")
    assert bob.notifications.unread().count() == 0
    client.post(
        "/api/notifications/mark-unread/",
        {"ids": [twin_of(second).pk]},
        content_type="application/json",
    )
    assert list(bob.notifications.unread()) == [second]


def test_finding_a_twin_reads_only_its_recipients_rows(people: Any) -> None:
    """The link to the hq row is in the twin's JSON data, which no index covers: each
    lookup (a mark read, a delete) must go through the recipient's index, not read
    every user's notifications."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice, bob, _ = people
    [row] = send(alice, bob)
    with CaptureQueriesContext(connection) as queries:
        row.mark_as_read()
    table = Twin._meta.db_table
    [lookup, *_] = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and table in q["sql"] and "hq" in q["sql"]
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN " + ("QUERY PLAN " if connection.vendor == "sqlite" else "") + lookup
        )
        plan = " ".join(str(part) for step in cursor.fetchall() for part in step)
    if connection.vendor == "sqlite":
        assert f"SCAN {table}" not in plan and "livebell_rcpt" in plan, plan
    else:  # the planners of PostgreSQL and MariaDB may scan so small a table
        assert "recipient_id" in lookup, lookup


def test_a_group_gets_its_twins_in_one_store_not_one_per_member(people: Any) -> None:
    """notify.send() to a group stores the members' twins with one livebell.notify_each()
    (one lock, one INSERT of twins), in the transaction of the hq rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice = people[0]
    members = [User.objects.create_user(f"m{i}") for i in range(20)]
    team = Group.objects.create(name="members")
    team.user_set.set(members)
    with CaptureQueriesContext(connection) as queries:
        rows = send(alice, team, description="news")
    twin_inserts = [
        q for q in queries if q["sql"].startswith("INSERT") and Twin._meta.db_table in q["sql"]
    ]
    assert len(rows) == 20 and len(twin_inserts) == 1
    assert sorted(twin_of(row).recipient_id for row in rows) == sorted(m.pk for m in members)
    assert all(twin_of(row).data["hq"]["id"] == row.pk for row in rows)
