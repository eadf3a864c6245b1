"""Retention: ``manage.py livebell_prune``, :mod:`livebell.retention` and its storage.

Old notifications go in batches, each inbox's counters stay equal to a COUNT of
its rows, ``last_id`` never goes down, and a client resuming from a deleted id gets
what is newer with ``truncated`` — also while another process writes to the same
inboxes.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from livebell import inbox, notify, retention
from livebell.models import InboxState, Notification
from livebell.storage import catchup, prune, state
from tests.conftest import connect_synced, open_socket, receive_json
from tests.processes import ROOT, child_env

DAY = timedelta(days=1)


def age(rows: list[Notification], days: int) -> None:
    """Make ``rows`` look ``days`` old (outside livebell's API: no counter changes)."""
    Notification.objects.filter(pk__in=[n.pk for n in rows]).update(
        created_at=timezone.now() - days * DAY
    )


def assert_exact(user: Any) -> InboxState:
    """The user's state row agrees with a COUNT of their rows; returned."""
    found = InboxState.objects.get(user=user)
    mine = Notification.objects.for_user(user)
    assert found.unread_count == mine.unread().count()
    newest = mine.order_by("-pk").values_list("pk", flat=True).first() or 0
    assert found.last_id >= newest
    assert found.pruned_through <= found.last_id
    return found


@pytest.mark.any_database
@pytest.mark.parametrize(
    ("text", "expected"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), (" 30m ", timedelta(minutes=30))],
)
def test_ages_parse(text: str, expected: timedelta) -> None:
    assert retention.parse_age(text) == expected


@pytest.mark.any_database
@pytest.mark.parametrize("text", ["90", "0d", "-3d", "1w", "1.5d", "d", "", "90 days"])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not an age"):
        retention.parse_age(text)


@pytest.mark.django_db
@pytest.mark.parametrize("arguments", [["--older-than", "ninety"], ["--older-than", "90"]])
def test_the_command_refuses_a_bad_age_clearly(arguments: list[str]) -> None:
    with pytest.raises(CommandError, match=r"is not an age.*90d, 12h or 30m"):
        call_command("livebell_prune", *arguments)


@pytest.mark.django_db
def test_the_command_refuses_a_batch_below_one() -> None:
    with pytest.raises(CommandError, match="--batch must be at least 1"):
        call_command("livebell_prune", "--older-than", "1d", "--batch", "0")


@pytest.mark.django_db
def test_pruning_deletes_old_rows_in_batches_and_keeps_every_inbox_exact(
    make_user: Any,
) -> None:
    bob, alice, carol = make_user("bob"), make_user("alice"), make_user("carol")
    old = [notify([bob, alice], f"old {i}") for i in range(7)]
    old_rows = [n for pair in old for n in pair]
    inbox.mark_read(bob, [old_rows[0].pk, old_rows[2].pk])  # two of bob's old ones read
    age(old_rows, 100)
    fresh = notify([bob, carol], "fresh")
    newest_before = {u.pk: InboxState.objects.get(user=u).last_id for u in (bob, alice, carol)}
    revision_before = {u.pk: InboxState.objects.get(user=u).revision for u in (bob, alice, carol)}

    out = io.StringIO()
    call_command("livebell_prune", "--older-than", "90d", "--batch", "3", stdout=out)

    assert "Deleted 14 notification(s) (12 unread) in 5 batch(es)." in out.getvalue()
    assert set(Notification.objects.values_list("pk", flat=True)) == {n.pk for n in fresh}
    for user in (bob, alice, carol):
        found = assert_exact(user)
        assert found.last_id == newest_before[user.pk]  # never goes down
    bob_state, alice_state = assert_exact(bob), assert_exact(alice)
    assert bob_state.unread_count == 1 and alice_state.unread_count == 0
    assert bob_state.pruned_through == max(n.pk for n in old_rows if n.recipient_id == bob.pk)
    assert alice_state.pruned_through == alice_state.last_id
    assert bob_state.revision > revision_before[bob.pk]
    assert alice_state.revision > revision_before[alice.pk]
    carol_state = assert_exact(carol)  # nothing of hers was old: untouched
    assert (carol_state.revision, carol_state.pruned_through) == (revision_before[carol.pk], 0)


@pytest.mark.django_db
def test_read_only_keeps_unread_rows_however_old(make_user: Any) -> None:
    bob = make_user("bob")
    rows = [notify(bob, f"n{i}")[0] for i in range(4)]
    inbox.mark_read(bob, [rows[1].pk, rows[3].pk])
    age(rows, 10)

    done = prune.prune(timedelta(days=5), read_only=True, batch=1)

    assert (done.deleted, done.unread) == (2, 0)
    assert list(Notification.objects.order_by("pk").values_list("pk", flat=True)) == [
        rows[0].pk,
        rows[2].pk,
    ]
    found = assert_exact(bob)
    assert (found.unread_count, found.pruned_through, found.last_id) == (2, rows[3].pk, rows[3].pk)


@pytest.mark.django_db
def test_a_client_resuming_from_a_pruned_id_gets_what_is_newer_marked_truncated(
    make_user: Any,
) -> None:
    bob, alice = make_user("bob"), make_user("alice")
    rows = [notify(bob, f"n{i}")[0] for i in range(6)]
    alice_rows = [notify(alice, f"a{i}")[0] for i in range(2)]
    age(rows[:3], 100)
    prune.prune(timedelta(days=90))
    kept = [n.pk for n in rows[3:]]

    # From before the pruned rows, and from the middle of them: the rest, truncated.
    for after in (0, rows[0].pk, rows[1].pk):
        found = catchup.catch_up(bob.pk, after, limit=100)
        assert [n["id"] for n in found.notifications] == kept
        assert found.truncated
    # From the newest pruned id or later: nothing that was missed is gone.
    for after, expected in ((rows[2].pk, kept), (rows[4].pk, kept[2:])):
        found = catchup.catch_up(bob.pk, after, limit=100)
        assert [n["id"] for n in found.notifications] == expected
        assert not found.truncated
    # Several sockets in one batch (the path of a reconnect storm) agree.
    many = catchup.catch_up_many(
        [(bob.pk, rows[0].pk), (alice.pk, 0), (bob.pk, rows[2].pk), (bob.pk, None)], limit=100
    )
    assert [(len(c.notifications), c.truncated) for c in many] == [
        (3, True),
        (len(alice_rows), False),
        (3, False),
        (0, False),
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_socket_resuming_from_a_pruned_id_is_told_truncated(amake_user: Any) -> None:
    bob = await amake_user("bob")
    rows = [(await sync_to_async(notify)(bob, f"n{i}"))[0] for i in range(4)]
    await sync_to_async(age)(rows[:2], 100)
    await sync_to_async(prune.prune)(timedelta(days=90))

    for after, truncated in ((rows[0].pk, True), (rows[1].pk, False)):
        socket = await open_socket(bob, path=f"/ws/notifications/?last_id={after}")
        connected, _ = await socket.connect(timeout=5)
        assert connected
        frames = [await receive_json(socket) for _ in range(3)]
        assert [f["notification"]["id"] for f in frames[:2]] == [rows[2].pk, rows[3].pk]
        expected = {"type": "synced", "last_id": rows[3].pk, "unread_count": 2}
        assert frames[2] == ({**expected, "truncated": True} if truncated else expected)
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_open_sockets_are_told_what_was_pruned(amake_user: Any) -> None:
    bob = await amake_user("bob")
    rows = [(await sync_to_async(notify)(bob, f"n{i}"))[0] for i in range(3)]
    await sync_to_async(inbox.mark_read)(bob, [rows[0].pk])
    await sync_to_async(age)(rows[:2], 100)
    tab = await connect_synced(bob)

    await sync_to_async(prune.prune)(timedelta(days=90))

    assert await receive_json(tab) == {
        "type": "deleted",
        "ids": [rows[0].pk, rows[1].pk],
        "unread_count": 1,
    }
    await tab.disconnect()


@pytest.mark.django_db
def test_the_periodic_task_prunes_with_the_settings(make_user: Any) -> None:
    bob = make_user("bob")
    rows = [notify(bob, f"n{i}")[0] for i in range(3)]
    age(rows[:1], 40)
    age(rows[1:2], 20)

    with override_settings(LIVEBELL={"PRUNE_OLDER_THAN": "30d"}):
        assert retention.prune_old_notifications.call()["deleted"] == 1
    with override_settings(LIVEBELL={"PRUNE_OLDER_THAN": timedelta(days=10)}):
        assert retention.prune_old_notifications.call()["deleted"] == 1
    assert list(Notification.objects.values_list("pk", flat=True)) == [rows[2].pk]
    assert_exact(bob)
    with (
        override_settings(LIVEBELL={"PRUNE_OLDER_THAN": "soon"}),
        pytest.raises(ImproperlyConfigured, match="PRUNE_OLDER_THAN"),
    ):
        retention.prune_old_notifications.call()


def _isolation_levels() -> list[str | None]:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("mysql"):
        return ["read committed", "repeatable read"]
    return [None]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
@pytest.mark.parametrize("isolation", _isolation_levels())
def test_pruning_while_another_process_writes_to_the_same_inboxes_keeps_them_exact(
    make_user: Any, isolation: str | None
) -> None:
    """Another process notifies, marks read and unread and deletes in three inboxes
    while this one prunes them again and again, in batches of a few rows, with a
    cutoff in the future: every row the other process writes is prunable at once, so
    the two fight over the same rows and state rows. Afterwards each state row
    equals a COUNT, and ``last_id`` is the newest id ever stored."""
    users = [make_user(name) for name in ("bob", "alice", "carol")]
    for user in users:
        notify(user, "seed")
    env = child_env({"BACKEND": "channels.layers.InMemoryChannelLayer"})
    if isolation is not None:
        env["LIVEBELL_TEST_MYSQL_ISOLATION"] = isolation
    churn = subprocess.Popen(
        [sys.executable, "-m", "tests.contender", "churn", "bob,alice,carol", "7", "400"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    deleted = runs = 0
    try:
        while churn.poll() is None:
            done = prune.prune(timedelta(minutes=1), batch=4, now=timezone.now() + DAY)
            deleted, runs = deleted + done.deleted, runs + 1
        assert churn.stdout is not None
        summary = json.loads(churn.stdout.read())
    finally:
        if churn.poll() is None:
            churn.kill()
        churn.wait()
        if churn.stdout is not None:
            churn.stdout.close()
    assert churn.returncode == 0
    assert deleted > 0 and runs > 1, (deleted, runs)
    for user in users:
        found = assert_exact(user)
        assert found.last_id == max(summary["newest"].get(user.username, 0), found.last_id)
        assert found.last_id >= summary["newest"].get(user.username, 0)
    prune.prune(timedelta(minutes=1), now=timezone.now() + DAY)
    assert not Notification.objects.exists()
    for user in users:
        found = assert_exact(user)
        # The newest rows may have been deleted by the other process, not pruned.
        assert found.unread_count == 0 and found.pruned_through > 0
        assert state.current([user.pk])[user.pk].last_id == found.last_id
