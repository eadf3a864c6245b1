"""Each user's inbox state: one row, kept exact by every write, counted O(1).

The counters (unread count, newest id, revision) must always equal what a COUNT
over the notifications says, after any sequence of writes — grouped notifications
merging into and replacing rows included (hypothesis) — and when two processes
write to the same inboxes at once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
import threading
import time
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livebell import inbox, notify
from livebell.models import InboxState, Notification
from livebell.storage import state
from tests.locks import POLL_SECONDS, can_lock_now, in_thread, lock_waiters
from tests.processes import ROOT, child_env
from tests.testapp.models import Post


def counted(user: Any) -> tuple[int, int]:
    """The user's newest id and unread count, counted from the rows."""
    mine = Notification.objects.for_user(user)
    newest = mine.order_by("-pk").values_list("pk", flat=True).first() or 0
    return newest, mine.unread().count()


def assert_exact(user: Any, *, newest_ever: int | None = None) -> state.RecipientState:
    found = state.current([user.pk])[user.pk]
    newest, unread = counted(user)
    assert found.unread_count == unread
    # Deleting the newest row does not lower last_id: ids are never reused.
    assert found.last_id == (newest if newest_ever is None else newest_ever)
    return found


@pytest.mark.django_db
def test_the_queryset_reads_the_users_rows_newest_first(make_user: Any) -> None:
    bob, alice = make_user("bob"), make_user("alice")
    rows = [notify(bob, f"n{i}")[0] for i in range(3)]
    notify(alice, "for alice")
    assert list(Notification.objects.for_user(bob)) == rows[::-1]
    inbox.mark_read(bob, [rows[0].pk])
    assert list(Notification.objects.for_user(bob).read()) == [rows[0]]
    assert list(Notification.objects.for_user(bob.pk).unread()) == rows[:0:-1]


@pytest.mark.django_db
def test_the_count_and_newest_id_cost_one_lookup(
    make_user: Any, django_assert_num_queries: Any
) -> None:
    bob = make_user("bob")
    rows = notify([bob], "a") + notify(bob, "b")
    with django_assert_num_queries(1):
        found = state.current([bob.pk])[bob.pk]
    assert (found.last_id, found.unread_count) == (rows[-1].pk, 2)


@pytest.mark.django_db
def test_rows_written_before_the_state_existed_are_counted(make_user: Any) -> None:
    """A database with notifications from before InboxState (or from bulk_create)."""
    bob = make_user("bob")
    Notification.objects.bulk_create(
        Notification(recipient=bob, verb=f"old {i}", read_at=None) for i in range(5)
    )
    # Reads trust the state rows: nothing stored through livebell yet.
    assert state.current([bob.pk])[bob.pk] == state.EMPTY
    # The first write creates the row, counted from the rows already there.
    [row] = notify(bob, "new")
    assert InboxState.objects.get(user=bob).unread_count == 6
    assert state.current([bob.pk])[bob.pk].last_id == row.pk


@pytest.mark.django_db
def test_rebuild_recounts_after_writes_outside_livebell(make_user: Any) -> None:
    bob, carol = make_user("bob"), make_user("carol")
    rows = notify([bob, carol], "x") + notify(bob, "y")
    # Behind livebell's back: counters are now wrong.
    Notification.objects.filter(pk=rows[0].pk).update(read_at=rows[0].created_at)
    Notification.objects.filter(pk=rows[1].pk).delete()
    assert state.current([bob.pk])[bob.pk].unread_count == 2
    call_command("livebell_rebuild_state", verbosity=0)
    assert_exact(bob)
    assert_exact(carol, newest_ever=rows[1].pk)
    call_command("livebell_rebuild_state", "--user", "bob", verbosity=0)
    assert_exact(bob)


@pytest.mark.django_db
def test_a_write_for_a_user_that_does_not_exist_is_refused(django_user_model: Any) -> None:
    with pytest.raises(ValueError, match="No user with primary key 424242"), transaction.atomic():
        state.lock([424242], "default")


@pytest.mark.django_db
def test_notify_to_many_users_updates_their_state_in_a_few_statements(
    django_user_model: Any,
) -> None:
    django_user_model.objects.bulk_create(django_user_model(username=f"u{i}") for i in range(2500))
    users = django_user_model.objects.all()
    notify(users, "first: creates the state rows")
    with CaptureQueriesContext(connection) as queries:
        rows = notify(users, "second")
    # Per chunk of users: lock, insert, update — never a statement per user.
    assert len(queries) <= 3 * 30, [q["sql"][:80] for q in queries]
    some = rows[1234]
    assert InboxState.objects.get(user_id=some.recipient_id).last_id == some.pk
    assert InboxState.objects.get(user_id=some.recipient_id).unread_count == 2


# Random sequences of every write livebell makes, for three users at once.

_names = itertools.count()
operation = st.one_of(
    st.tuples(st.just("notify"), st.sets(st.integers(0, 2), min_size=1)),
    # A like (a type that groups): of one of two posts, by one of the three users.
    st.tuples(st.just("like"), st.sets(st.integers(0, 2), min_size=1), st.integers(0, 1),
              st.integers(0, 2)),
    st.tuples(st.sampled_from(["mark_read", "mark_unread", "delete"]), st.integers(0, 2),
              st.lists(st.integers(0, 40), max_size=6)),
    st.tuples(st.just("mark_all_read"), st.integers(0, 2), st.none() | st.integers(0, 40)),
)  # fmt: skip


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_counters_equal_a_count_after_any_sequence_of_writes(
    django_user_model: Any, operations: list[tuple[Any, ...]]
) -> None:
    run = next(_names)
    users = [django_user_model.objects.create(username=f"p{run}u{i}") for i in range(3)]
    index_of = {user.pk: i for i, user in enumerate(users)}
    made: list[int] = []  # every id stored, so that ids name real rows, others' included
    newest_ever = dict.fromkeys(range(3), 0)
    revisions = dict.fromkeys(range(3), -1)
    posts = [Post.objects.create(title=f"p{run}.{i}") for i in range(2)]
    for op in operations:
        if op[0] in ("notify", "like"):
            recipients = [users[i] for i in sorted(op[1])]
            if op[0] == "notify":
                rows = notify(recipients, "n")
            else:
                rows = notify(
                    recipients, type="post.liked", actor=users[op[3]], target=posts[op[2]]
                )
            for row in rows:
                made.append(row.pk)
                newest_ever[index_of[row.recipient_id]] = row.pk
        elif op[0] == "mark_all_read":
            _, who, pick = op
            before_id = None if pick is None or not made else made[pick % len(made)]
            inbox.mark_all_read(users[who], before_id=before_id)
        else:
            kind, who, picks = op
            ids = [made[p % len(made)] for p in picks] if made else []
            getattr(inbox, kind)(users[who], ids)
        for i, user in enumerate(users):
            found = assert_exact(user, newest_ever=newest_ever[i])
            assert found.revision >= revisions[i]  # never goes back
            revisions[i] = found.revision


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_counters_stay_exact_when_two_processes_write_at_once(make_user: Any) -> None:
    """Two processes doing random writes to the same three inboxes, at the same time."""
    users = [make_user(name) for name in ("bob", "carol", "dave")]
    layer = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.contender", "churn", "bob,carol,dave", str(seed), "150"],
            env=child_env(layer),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    reports = []
    try:
        for writer in writers:
            out, _ = writer.communicate(timeout=100)
            assert writer.returncode == 0, out
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for writer in writers:  # one failed: the other must not outlive the test
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
    assert all(report["writes"] == 150 for report in reports), reports
    for user in users:
        assert_exact(user, newest_ever=max(report["newest"].get(user.username, 0)
                                           for report in reports))  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_a_state_row_created_meanwhile_by_another_transaction_does_not_deadlock(
    make_user: Any,
) -> None:
    """Every state row a write needs is locked, or created, in key order, never after
    a row of a higher key it holds. A transaction that held dave's row (which
    existed) and then created bob's (missing when it looked) deadlocked with one
    that meanwhile created bob's row, committed, and then locked bob's and waited
    for dave's: PostgreSQL rolled one back.

    The first writer is held after its first statement on the state rows; the
    other makes its two writes; then the first goes on. Both must succeed, exactly.
    On MariaDB this schedule did not deadlock before either: there the first
    writer's locking read of bob's missing row also locked the next row of the
    index (carol's), so the other waited before creating bob's. MariaDB's deadlocks
    in CI came from scans of a small state table (the EXPLAIN test below).
    """
    from django.db import connection as own

    bob, carol, dave = make_user("bob"), make_user("carol"), make_user("dave")  # keys rise
    for user in (carol, dave):
        inbox.mark_all_read(user)  # a state row; bob has none
    table = InboxState._meta.db_table
    holding, go_on, errors = threading.Event(), threading.Event(), []

    def hold_after_the_first_lock(execute: Any, sql: str, *args: Any) -> Any:
        result = execute(sql, *args)
        if table in sql and not holding.is_set():
            holding.set()
            go_on.wait(timeout=20)
        return result

    def first() -> None:
        with own.execute_wrapper(hold_after_the_first_lock):
            notify([bob, dave], "first")

    def other() -> None:
        notify(bob, "bob's first")
        notify([bob, dave], "other")

    first_writer = in_thread(first, errors)
    assert holding.wait(timeout=20)
    other_writer = in_thread(other, errors)
    # Until the other writer waits for a lock the first holds (or, on SQLite, for
    # the database), or is done.
    for _ in range(25):
        if not other_writer.is_alive() or lock_waiters():
            break
        time.sleep(POLL_SECONDS)
    go_on.set()
    first_writer.join(timeout=30)
    other_writer.join(timeout=30)
    assert errors == []
    for user, received in ((bob, 3), (carol, 0), (dave, 2)):
        assert Notification.objects.for_user(user).count() == received
        assert_exact(user)


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_with_a_row_missing_locks_none_of_them(make_user: Any) -> None:
    """What lets :func:`state.lock` create missing rows in key order: its first read
    locks every row of a chunk, or, with one missing, none (not even, on MariaDB, the
    next row in the index, which a locking read of a missing key locks)."""
    bob, carol, dave = make_user("bob"), make_user("carol"), make_user("dave")
    for user in (carol, dave):
        inbox.mark_all_read(user)  # a state row; bob has none
    ids, others = [bob.pk, carol.pk, dave.pk], [carol.pk, dave.pk]
    with transaction.atomic():
        assert state._locked(ids, connection.alias, all_or_none=True) == {}
        if connection.vendor != "sqlite":  # no row locks: one writer at a time
            assert can_lock_now(InboxState, others)
        assert set(state._locked(ids, connection.alias, all_or_none=False)) == set(others)
        if connection.vendor != "sqlite":
            assert not can_lock_now(InboxState, others)  # so the probe above can fail
    with transaction.atomic():
        assert set(state.lock(ids, connection.alias)) == set(ids)
        assert set(state._locked(ids, connection.alias, all_or_none=True)) == set(ids)


# --- the state rows' write, in each database's fast form and the portable one ------

#: A state that each column of InboxState holds on every database.
STATES = st.builds(
    state.RecipientState,
    st.integers(0, 2**63 - 1),  # last_id, a BigIntegerField
    st.integers(0, 2**31 - 1),  # unread_count, a PositiveIntegerField
    st.integers(0, 2**63 - 1),  # revision
)


def written(users: list[Any], states: dict[Any, state.RecipientState], how: str) -> list[Any]:
    """Every user's state row after writing ``states`` (the others reset first), with
    the database's own path (``fast``) or the ORM's CASE expressions (``portable``)."""
    InboxState.objects.filter(user__in=users).update(last_id=0, unread_count=0, revision=0)
    if how == "fast":
        state._write(states, connection.alias)
    else:
        state._write_portable(sorted(states.items()), connection.alias)
    return list(
        InboxState.objects.filter(user__in=users)
        .order_by("user_id")
        .values_list("user_id", "last_id", "unread_count", "revision")
    )


@pytest.mark.django_db
def test_each_database_writes_many_states_in_its_own_fast_form() -> None:
    # So that the test below compares a fast path with the portable one, not with itself.
    assert state._write_plan(connection) == connection.vendor


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_fast_state_write_stores_what_the_portable_one_does(
    django_user_model: Any, data: st.DataObject
) -> None:
    # The examples share the test's transaction: the users are made by the first.
    users = [django_user_model.objects.get_or_create(username=f"w{i}")[0] for i in range(6)]
    chosen = data.draw(st.lists(st.sampled_from(users), min_size=2, unique=True), label="users")
    states = {user.pk: data.draw(STATES, label=user.username) for user in chosen}
    state.lock([user.pk for user in users], connection.alias)  # the rows exist
    fast, portable = written(users, states, "fast"), written(users, states, "portable")
    assert fast == portable
    assert [row for row in fast if row[0] in states] == [
        (user_id, *states[user_id]) for user_id in sorted(states)
    ]
    assert all(row[1:] == (0, 0, 0) for row in fast if row[0] not in states)  # untouched


@pytest.mark.django_db
def test_the_fast_state_write_of_more_users_than_one_statement_takes(
    django_user_model: Any,
) -> None:
    django_user_model.objects.bulk_create(django_user_model(username=f"m{i}") for i in range(1200))
    users = list(django_user_model.objects.filter(username__startswith="m").order_by("pk"))
    state.lock([user.pk for user in users], connection.alias)
    states = {
        user.pk: state.RecipientState(10_000 + i, i, 2**40 + i) for i, user in enumerate(users)
    }
    assert written(users, states, "fast") == written(users, states, "portable")
    assert InboxState.objects.get(user=users[-1]).unread_count == 1199


# --- the state rows' locking read, in each database's fast form and the ORM's -------


@pytest.mark.django_db
def test_each_database_locks_the_state_rows_with_one_short_statement() -> None:
    # So that the test below compares a fast path with the ORM's, not with itself.
    assert state._lock_sql(connection, all_or_none=True) is not None
    assert state._lock_sql(connection, all_or_none=False) is not None


def locked(user_ids: list[Any], how: str) -> dict[Any, state.RecipientState]:
    """What :func:`state.lock` returns through the database's own statement (``fast``)
    or the ORM's ``IN`` list (``portable``)."""
    forced = (
        contextlib.nullcontext()
        if how == "fast"
        else mock.patch.object(state, "_lock_sql", lambda connection, all_or_none: None)
    )
    with forced, transaction.atomic():
        return state.lock(user_ids, connection.alias)


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_fast_locking_read_returns_what_the_orms_does(
    django_user_model: Any, data: st.DataObject
) -> None:
    users = [django_user_model.objects.get_or_create(username=f"k{i}")[0] for i in range(6)]
    chosen = data.draw(st.lists(st.sampled_from(users), min_size=1, unique=True), label="users")
    ids = [user.pk for user in chosen]
    # Some users have a state row (from earlier examples or this one), some may not yet.
    if data.draw(st.booleans(), label="notify first"):
        notify(chosen[: len(chosen) // 2 + 1], "n")
    fast = locked(ids, "fast")
    assert fast == locked(ids, "portable") == state.current(ids)


@pytest.mark.django_db
def test_the_fast_locking_read_of_more_users_than_one_statement_takes(
    django_user_model: Any,
) -> None:
    django_user_model.objects.bulk_create(django_user_model(username=f"l{i}") for i in range(1200))
    ids = list(
        django_user_model.objects.filter(username__startswith="l")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    fast = locked(ids, "fast")
    assert len(fast) == 1200
    assert fast == locked(ids, "portable")


# transaction=True: ANALYZE TABLE commits on MySQL/MariaDB, so the rows are flushed after.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("users", [4, 1500])
def test_the_lock_and_the_write_read_the_state_table_by_key_not_by_scanning(
    django_user_model: Any, users: int
) -> None:
    """InnoDB locks every row a locking statement reads: on MariaDB/MySQL the JSON rows
    must lead and find each state row by primary key, in a small table too, which
    the optimizer would rather scan (a scan locked other users' rows out of order,
    and two concurrent notify() deadlocked). On every database a scan of a large
    table would also cost time in proportion to all users, not to the recipients
    (PostgreSQL locks only the rows a scan returns, and scans a small table)."""
    django_user_model.objects.bulk_create(django_user_model(username=f"e{i}") for i in range(users))
    ids = list(
        django_user_model.objects.filter(username__startswith="e")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        state.lock(ids, connection.alias)  # creates the state rows
    table = InboxState._meta.db_table
    analyze = {"mysql": "ANALYZE TABLE ", "postgresql": "ANALYZE ", "sqlite": "ANALYZE "}
    if users > 100:  # a small table keeps the statistics of the empty one it was
        with connection.cursor() as cursor:
            cursor.execute(analyze[connection.vendor] + connection.ops.quote_name(table))
            if connection.vendor == "mysql":
                cursor.fetchall()
    chosen = ids[users // 2 - 1 : users // 2 + 2]
    statements = [
        (
            state._lock_sql(connection, all_or_none=all_or_none),
            state._lock_parameters(chosen, connection, all_or_none=all_or_none),
        )
        for all_or_none in (True, False)
    ]
    if connection.vendor != "postgresql":  # PostgreSQL's write joins unnest() by key
        quote = connection.ops.quote_name
        columns = [quote(name) for name in ("last_id", "unread_count", "revision")]
        write = state._write_rows_sql(
            quote(table), quote("user_id"), columns, connection.vendor, len(chosen), True
        )
        statements.append((write, [json.dumps([[pk, 1, 1, 1] for pk in chosen])]))
    for sql, params in statements:
        explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        with connection.cursor() as cursor:
            cursor.execute(explain + sql, params)
            columns = [c[0] for c in cursor.description]
            plan = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        if connection.vendor == "mysql":
            # The JSON rows lead; the state rows (s; c, those the guard counts) by key.
            assert [row["table"] for row in plan][:2] == ["v", "s"], plan
            assert all((row["type"], row["key"]) == ("eq_ref", "PRIMARY")
                       for row in plan if row["table"] in ("s", "c")), plan  # fmt: skip
        elif users < 100:
            pass  # a scan of a few rows is cheap; PostgreSQL locks only those it returns
        elif connection.vendor == "sqlite":
            steps = [row["detail"] for row in plan]
            assert not any(step.startswith(f"SCAN {name}") for step in steps
                           for name in ("s", table)), steps  # fmt: skip
        else:
            assert not any(f"Seq Scan on {table}" in str(row) for row in plan), plan
