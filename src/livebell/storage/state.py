"""Each recipient's inbox state: the one row that orders every write to their inbox.

Every write to a user's notifications — storing new ones (:mod:`livebell.storage.inserts`),
marking read or unread, deleting (:mod:`livebell.inbox`) — first locks the user's
:class:`~livebell.models.InboxState` row with :func:`lock`, then writes the new
state in the same transaction. That gives three guarantees:

- **Ids increase in commit order, per user.** A transaction storing a notification
  for bob holds bob's row until it commits, so the next one for bob gets its id
  only afterwards. "Everything with ``id > last_id``" is then an exact catch-up.
- **What a write reads is committed and current.** :func:`lock` is a plain
  ``SELECT … FOR UPDATE`` of the state rows: PostgreSQL (READ COMMITTED) returns
  the newest committed version of a row it had to wait for, and InnoDB's locking
  reads read the newest committed version whatever the isolation level. (A
  ``COUNT`` subquery in the same statement would read the statement's older
  snapshot instead: the defect this module replaced.)
- **Counters cost O(1) and stay exact.** The unread count, the newest id and the
  revision are computed under the lock from the previous values and the rows the
  transaction changed, never recounted.

SQLite has one writer at a time, so the lock is implicit there.

A state row is created by the user's first write, counted from the user's
existing notifications (so rows written with ``bulk_create`` before it are
counted); migration ``0003`` created the rows of every inbox that existed before
livebell kept state. ``manage.py livebell_rebuild_state`` recounts after writes
outside livebell's API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, NamedTuple

import orjson
from django.contrib.auth import get_user_model
from django.db import connections, models, router, transaction

from livebell.models import InboxState, Notification
from livebell.storage._arrays import (
    array_parameter,
    cast_type,
    has_json_table,
    holds_integers,
    key_values,
)

__all__ = [
    "EMPTY",
    "LOCK_CHUNK",
    "RecipientState",
    "Transition",
    "current",
    "current_with_pruned",
    "lock",
    "rebuild",
    "record_change",
    "record_new",
    "record_pruned",
]

# Users locked, read or written per statement.
LOCK_CHUNK = 1000


class RecipientState(NamedTuple):
    """A user's inbox in three numbers (see :class:`~livebell.models.InboxState`).

    Named tuples (this and :class:`Transition`): a ``notify()`` makes two per
    recipient, and a tuple is made faster than a frozen dataclass.
    """

    #: The newest notification id ever stored for the user; 0 before the first.
    last_id: int
    unread_count: int
    #: Increases by one with each change to the inbox, in commit order.
    revision: int


#: The state of a user with no notifications and no state row yet.
EMPTY = RecipientState(last_id=0, unread_count=0, revision=0)


class Transition(NamedTuple):
    """What one new notification did to its recipient's state."""

    #: The recipient's newest id before this notification (0 if none): a socket that
    #: has not sent it has missed something.
    previous_id: int
    #: The recipient's unread count and revision just after this notification.
    unread_count: int
    revision: int


def lock(user_ids: Iterable[Any], using: str) -> dict[Any, RecipientState]:
    """Lock the users' state rows, creating missing ones; return each user's state.

    Must run inside a transaction, which holds the locks until it ends. Rows are
    locked, and missing ones created, in primary-key order, never one after a row
    of a higher key: two transactions locking overlapping users cannot deadlock.

    Raises:
        ValueError: a user id with no user row (deleted meanwhile, or from another
            database).
    """
    states: dict[Any, RecipientState] = {}
    for chunk in _chunks(sorted(set(user_ids)), LOCK_CHUNK):
        found = _locked(chunk, using, all_or_none=True)
        if len(found) < len(chunk):
            # Some rows are missing, and none of this chunk's is locked yet: creating
            # the missing ones now and locking the rest afterwards would take a row
            # after one of a higher key. They are created and locked together, in order.
            found = _create_and_lock(chunk, using)
        states.update(found)
    return states


def record_new(
    before: Mapping[Any, RecipientState],
    notifications: Sequence[Notification],
    using: str,
    *,
    replacing: Mapping[int, int] | None = None,
) -> dict[int, Transition]:
    """Write the state after new ``notifications``; return each one's transition by id.

    ``before`` is what :func:`lock` returned in the same transaction. A user with
    several new notifications (calls stored together) gets them chained in id
    order: each one's ``previous_id`` is the one before it. ``replacing`` says, by
    new id, how many unread rows a new row replaced (live grouping): they no longer
    count as unread.
    """
    replacing = replacing or {}
    running: dict[Any, RecipientState] = {}
    transitions: dict[int, Transition] = {}
    # .id, not .pk: the property costs a lookup of the primary key field per row.
    for n in sorted(notifications, key=attrgetter("id")):
        pk, user_id = n.id, n.recipient_id
        last_id, unread_count, revision = running.get(user_id) or before[user_id]
        unread_count = max(0, unread_count + 1 - replacing.get(pk, 0))
        revision += 1
        transitions[pk] = Transition(last_id, unread_count, revision)
        running[user_id] = RecipientState(max(last_id, pk), unread_count, revision)
    _write(running, using)
    return transitions


def record_change(
    user_id: Any, before: RecipientState, unread_delta: int, using: str
) -> RecipientState:
    """Write the state after a change to existing notifications; return the new state.

    ``before`` is what :func:`lock` returned in the same transaction and
    ``unread_delta`` how many rows became unread (negative: read, or deleted while
    unread). The count never goes below zero, even if rows written outside
    livebell's API made it wrong.
    """
    after = RecipientState(
        before.last_id, max(0, before.unread_count + unread_delta), before.revision + 1
    )
    _write({user_id: after}, using)
    return after


def current(user_ids: Iterable[Any], using: str | None = None) -> dict[Any, RecipientState]:
    """Each user's committed state, without locking (for a catch-up or a count).

    One primary-key lookup per :data:`LOCK_CHUNK` users. A user without a state
    row has had nothing stored through livebell: :data:`EMPTY` (the migration
    that added the rows counted every inbox that existed then).
    """
    return {user_id: found for user_id, (found, _) in current_with_pruned(user_ids, using).items()}


def current_with_pruned(
    user_ids: Iterable[Any], using: str | None = None
) -> dict[Any, tuple[RecipientState, int]]:
    """:func:`current`, with each user's ``pruned_through``: the newest id retention
    deleted (0 if none; see :func:`record_pruned`), which a catch-up compares with the
    client's id. In the same primary-key lookups."""
    using = using or router.db_for_read(InboxState)
    wanted = list(dict.fromkeys(user_ids))
    states: dict[Any, tuple[RecipientState, int]] = {}
    for chunk in _chunks(wanted, LOCK_CHUNK):
        rows = (
            InboxState.objects.using(using)
            .filter(user_id__in=chunk)
            .values_list("user_id", "last_id", "unread_count", "revision", "pruned_through")
        )
        states.update((row[0], (RecipientState(*row[1:4]), row[4])) for row in rows)
    return {user_id: states.get(user_id, (EMPTY, 0)) for user_id in wanted}


def record_pruned(
    before: Mapping[Any, RecipientState],
    pruned: Mapping[Any, tuple[int, int]],
    using: str,
) -> dict[Any, RecipientState]:
    """Write the state after retention deleted old notifications; the new states.

    ``before`` is what :func:`lock` returned in the same transaction; ``pruned``
    says, per user, how many of the deleted rows were unread and the newest id
    deleted. The unread count goes down by the former, the revision moves (a
    socket seeing it knows its list changed), ``last_id`` stays (ids are not
    reused), and ``pruned_through`` rises to the newest id deleted: a client that
    resumes from an older id missed something that is gone.
    """
    after = {
        user_id: RecipientState(
            before[user_id].last_id,
            max(0, before[user_id].unread_count - unread),
            before[user_id].revision + 1,
        )
        for user_id, (unread, _) in pruned.items()
    }
    _write(after, using)
    _raise_pruned_through({user_id: newest for user_id, (_, newest) in pruned.items()}, using)
    return after


def rebuild(user_ids: Iterable[Any] | None = None, using: str | None = None) -> int:
    """Recount the users' state from their notifications; return how many were rebuilt.

    ``user_ids`` None means every user who has notifications or a state row. Each
    chunk of users is locked and recounted in its own transaction, so it is safe
    while the site runs. ``last_id`` never goes down (ids are not reused).
    """
    using = using or router.db_for_write(InboxState)
    if user_ids is None:
        user_ids = set(
            Notification.objects.using(using)
            .order_by()
            .values_list("recipient_id", flat=True)
            .distinct()
        ) | set(InboxState.objects.using(using).values_list("user_id", flat=True))
    rebuilt = 0
    for chunk in _chunks(sorted(set(user_ids)), LOCK_CHUNK):
        with transaction.atomic(using=using):
            before = lock(chunk, using)
            counted = _count(chunk, using)
            after = {}
            for user_id, state in before.items():
                fresh = counted.get(user_id, EMPTY)
                after[user_id] = RecipientState(
                    max(state.last_id, fresh.last_id), fresh.unread_count, state.revision + 1
                )
            _write(after, using)
            rebuilt += len(after)
    return rebuilt


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _locked(user_ids: Sequence[Any], using: str, *, all_or_none: bool) -> dict[Any, RecipientState]:
    """Lock the state rows of ``user_ids`` (sorted, unique, at most :data:`LOCK_CHUNK`)
    in their order; their state.

    ``all_or_none``: if any of the rows is missing, lock none and return none, so
    that the caller can create the missing rows in key order (:func:`lock`). One
    statement where the database allows: the ids as one array (PostgreSQL) or one
    JSON array (MariaDB/MySQL with ``JSON_TABLE``, SQLite) where the ORM's ``IN``
    list would take a parameter per user, which Django prepares one by one in
    Python (what that cost: docs/benchmarks.md).
    """
    connection = connections[using]
    sql = _lock_sql(connection, all_or_none=all_or_none)
    if sql is None:
        rows = InboxState.objects.using(using).filter(user_id__in=user_ids)
        if all_or_none and rows.count() < len(user_ids):
            return {}  # a plain count, before any row is locked
        locked = (
            rows.select_for_update()
            .order_by("user_id")
            .values_list("user_id", "last_id", "unread_count", "revision")
        )
        return {row[0]: RecipientState(*row[1:]) for row in locked}
    with connection.cursor() as cursor:
        cursor.execute(sql, _lock_parameters(user_ids, connection, all_or_none=all_or_none))
        found = {row[0]: RecipientState(*row[1:]) for row in cursor.fetchall()}
    # SQLite's read has no condition (no rows to leave unlocked); on the others a row
    # deleted after the count is not returned.
    return {} if all_or_none and len(found) < len(user_ids) else found


def _lock_sql(connection: Any, *, all_or_none: bool) -> str | None:
    """The locking read of :func:`_locked` on this database, or None for the ORM's.

    Rows are locked in the order of the ids given (sorted): on MariaDB/MySQL the
    JSON array's rows lead the join (``STRAIGHT_JOIN``) and each finds its state row
    by primary key (``FORCE INDEX``), so no other row is read or locked, as with the
    ORM's ``IN`` range. Left to itself, the optimizer scans a small state table
    instead, locking every row it passes, other users' too, out of order: two
    transactions then waited for each other's rows (a deadlock). SQLite has no row
    locks (one writer at a time).

    ``all_or_none`` adds a condition on a plain count of the rows, which the
    database evaluates once, before it reads a row to lock (PostgreSQL: a one-time
    filter; MariaDB/MySQL: at optimisation, "Impossible WHERE"): with a row missing,
    nothing is locked. (On MariaDB a locking read of a missing key also locks the
    next row of the index, whoever's it is.)
    """
    meta = InboxState._meta
    quote = connection.ops.quote_name
    key = _field("user")
    table = quote(meta.db_table)
    column = quote(key.column)
    selected = f"s.{column}, s.last_id, s.unread_count, s.revision"
    if connection.vendor == "postgresql":
        ids = f"ANY(CAST(%s AS {cast_type(key, connection)}[]))"
        guard = (
            f"AND (SELECT count(*) FROM {table} AS c WHERE c.{column} = {ids}) = %s "
            if all_or_none
            else ""
        )
        return (
            f"SELECT {selected} FROM {table} AS s WHERE s.{column} = {ids} {guard}"
            f"ORDER BY s.{column} FOR UPDATE"
        )
    if not holds_integers(key):
        return None
    if connection.vendor == "sqlite":
        return (
            f"SELECT {selected} FROM {table} AS s "
            f"WHERE s.{column} IN (SELECT value FROM json_each(%s))"
        )
    if has_json_table(connection):
        rows = "JSON_TABLE(%s, '$[*]' COLUMNS (u BIGINT PATH '$'))"
        guard = (
            f"WHERE (SELECT COUNT(*) FROM {rows} AS w "
            f"STRAIGHT_JOIN {table} AS c FORCE INDEX (PRIMARY) ON c.{column} = w.u) = %s "
            if all_or_none
            else ""
        )
        return (
            f"SELECT {selected} FROM {rows} AS v "
            f"STRAIGHT_JOIN {table} AS s FORCE INDEX (PRIMARY) ON s.{column} = v.u "
            f"{guard}FOR UPDATE"
        )
    return None


def _lock_parameters(user_ids: Sequence[Any], connection: Any, *, all_or_none: bool) -> list[Any]:
    """The parameters of :func:`_lock_sql`'s statement for ``user_ids``."""
    values = key_values(_field("user"), user_ids, connection)
    ids = (
        array_parameter(values)
        if connection.vendor == "postgresql"
        else orjson.dumps(values).decode()
    )
    if all_or_none and connection.vendor != "sqlite":
        return [ids, ids, len(user_ids)]
    return [ids]


def _count(user_ids: Sequence[Any], using: str) -> dict[Any, RecipientState]:
    """Users' state counted from their notifications (users without any are absent)."""
    counted: dict[Any, RecipientState] = {}
    for chunk in _chunks(user_ids, LOCK_CHUNK):
        rows = (
            Notification.objects.using(using)
            .filter(recipient_id__in=chunk)
            .order_by()
            .values_list("recipient_id")
            .annotate(
                livebell_newest=models.Max("id"),
                livebell_unread=models.Count("id", filter=models.Q(read_at__isnull=True)),
            )
        )
        counted.update(
            (user_id, RecipientState(newest, unread, 0)) for user_id, newest, unread in rows
        )
    return counted


#: The ``last_id`` a state row is inserted with by :func:`_create_and_lock`, which no
#: counted row has; replaced in the same transaction.
_UNCOUNTED = -1


def _create_and_lock(user_ids: Sequence[Any], using: str) -> dict[Any, RecipientState]:
    """Insert the state rows missing among ``user_ids`` (one chunk, sorted) and lock
    the others, in one statement, in key order; each user's state.

    A new row counts the user's notifications stored before it existed (rows
    written with ``bulk_create``, or by a version before livebell kept state).
    Where another transaction creates one of the rows meanwhile, this one waits for
    it and then locks it.
    """
    user_model = get_user_model()
    existing = set(
        user_model._default_manager.using(using)
        .filter(pk__in=user_ids)
        .values_list("pk", flat=True)
    )
    unknown = [user_id for user_id in user_ids if user_id not in existing]
    if unknown:
        shown = ", ".join(map(str, unknown[:5]))
        raise ValueError(f"No user with primary key {shown}: deleted, or from another database?")
    connection = connections[using]
    if connection.vendor == "postgresql":
        _insert_or_lock_postgresql(user_ids, connection)
    elif connection.vendor == "mysql":
        _insert_or_lock_mysql(user_ids, connection)
    else:  # SQLite: one writer at a time, no row locks to take in order
        InboxState.objects.using(using).bulk_create(
            [InboxState(user_id=user_id, last_id=_UNCOUNTED) for user_id in user_ids],
            ignore_conflicts=True,
        )
    states = _locked(user_ids, using, all_or_none=False)  # all ours now: no wait
    new = [user_id for user_id, found in states.items() if found.last_id == _UNCOUNTED]
    if new:
        counted = _count(new, using)
        fresh = {user_id: counted.get(user_id, EMPTY) for user_id in new}
        _write(fresh, using)
        states.update(fresh)
    return states


def _insert_or_lock_postgresql(user_ids: Sequence[Any], connection: Any) -> None:
    """PostgreSQL: ``INSERT … ON CONFLICT DO UPDATE … WHERE false``, rows in key order:
    a new row is inserted, an existing one locked and left as it is."""
    quote = connection.ops.quote_name
    key = _field("user")
    columns = ", ".join(
        quote(_field(name).column)
        for name in ("user", "last_id", "unread_count", "revision", "pruned_through")
    )
    column = quote(key.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(InboxState._meta.db_table)} AS s ({columns}) "
            f"SELECT u, {_UNCOUNTED}, 0, 0, 0 "
            f"FROM unnest(CAST(%s AS {cast_type(key, connection)}[])) AS u ORDER BY u "
            f"ON CONFLICT ({column}) DO UPDATE SET {column} = s.{column} WHERE false",
            [array_parameter(key_values(key, user_ids, connection))],
        )


def _insert_or_lock_mysql(user_ids: Sequence[Any], connection: Any) -> None:
    """MariaDB/MySQL: ``INSERT … ON DUPLICATE KEY UPDATE`` that changes nothing, rows in
    key order: a new row is inserted, an existing one locked."""
    meta = InboxState._meta
    quote = connection.ops.quote_name
    rows = [InboxState(user_id=user_id, last_id=_UNCOUNTED) for user_id in user_ids]
    fields = [f for f in meta.concrete_fields if isinstance(f, models.Field)]
    key = quote(meta.pk.column)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES {', '.join([row_sql] * len(rows))} ON DUPLICATE KEY UPDATE {key} = {key}",
            [
                f.get_db_prep_save(getattr(row, f.attname), connection)
                for row in rows
                for f in fields
            ],
        )


def _write(states: Mapping[Any, RecipientState], using: str) -> None:
    """Store the new state of locked users: one statement per chunk of users, in the
    fastest form the database has (:func:`_write_plan`)."""
    if not states:
        return
    connection = connections[using]
    items = sorted(states.items(), key=lambda item: item[0])
    if len(items) == 1:
        [(user_id, state)] = items
        InboxState.objects.using(using).filter(user_id=user_id).update(
            last_id=state.last_id, unread_count=state.unread_count, revision=state.revision
        )
        return
    plan = _write_plan(connection)
    if plan == "postgresql":
        _write_postgresql(items, connection)
    elif plan == "portable":
        _write_portable(items, using)
    else:
        _write_rows(items, connection, plan)


def _write_plan(connection: Any) -> str:
    """How :func:`_write` updates many state rows on this database:

    - ``"postgresql"``: ``UPDATE … FROM unnest(arrays)``, four array parameters;
    - ``"sqlite"``: ``UPDATE … FROM`` the rows of a JSON array (``json_each``; SQLite
      3.33 and newer);
    - ``"mysql"``: ``UPDATE JSON_TABLE(…) STRAIGHT_JOIN`` the state rows by primary
      key (MariaDB 10.6+, MySQL 8); on older MariaDB, or user keys that are not
      integers, ``INSERT … VALUES … ON DUPLICATE KEY UPDATE``, each row a duplicate
      of a locked row's primary key;
    - ``"portable"``: the ORM's ``UPDATE … SET col = CASE WHEN user_id = … THEN …``,
      for any other database. Building its thousands of expressions costs far more
      Python than the statement costs the database, so it is the reference the
      others are tested against, not a path taken where a faster one exists.
    """
    if connection.vendor == "postgresql":
        return "postgresql"
    if connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 33):
        return "sqlite"
    if connection.vendor == "mysql":
        return "mysql"
    return "portable"


def _write_portable(items: Sequence[tuple[Any, RecipientState]], using: str) -> None:
    """Any database: one ORM ``UPDATE`` with a ``CASE`` per column per chunk of users."""
    connection = connections[using]
    # Seven parameters per user; SQLite allows 999 per statement.
    limit = connection.features.max_query_params
    size = LOCK_CHUNK if limit is None else max(1, min(LOCK_CHUNK, limit // 7))
    for chunk in _chunks(items, size):
        InboxState.objects.using(using).filter(user_id__in=[u for u, _ in chunk]).update(
            **{
                field: models.Case(
                    *(
                        models.When(user_id=user_id, then=models.Value(getattr(state, field)))
                        for user_id, state in chunk
                    ),
                    output_field=_field(field),
                )
                for field in ("last_id", "unread_count", "revision")
            }
        )


def _write_rows(items: Sequence[tuple[Any, RecipientState]], connection: Any, plan: str) -> None:
    """SQLite and MySQL/MariaDB: the new values as a table of rows joined to the state
    rows by user, one statement per chunk.

    With integer user keys the rows are one JSON parameter (``json_each`` on SQLite,
    ``JSON_TABLE`` on MariaDB 10.6+ and MySQL 8): MySQLdb escapes each parameter in
    Python, and SQLite takes at most 999 per statement on older builds, where a
    ``VALUES`` row takes four.
    """
    table = connection.ops.quote_name(InboxState._meta.db_table)
    fields = [_field(name) for name in ("user", "last_id", "unread_count", "revision")]
    key, *columns = (connection.ops.quote_name(field.column) for field in fields)
    as_json = holds_integers(fields[0]) and (plan == "sqlite" or has_json_table(connection))
    limit = connection.features.max_query_params
    size = LOCK_CHUNK if as_json or limit is None else max(1, min(LOCK_CHUNK, limit // 4))
    with connection.cursor() as cursor:
        for chunk in _chunks(items, size):
            sql = _write_rows_sql(table, key, columns, plan, len(chunk), as_json)
            user_ids = key_values(fields[0], [user_id for user_id, _ in chunk], connection)
            rows_of = [
                (user_id, *state) for user_id, (_, state) in zip(user_ids, chunk, strict=True)
            ]
            cursor.execute(
                sql,
                [orjson.dumps(rows_of).decode()]
                if as_json
                else [value for row in rows_of for value in row],
            )


def _write_rows_sql(
    table: str, key: str, columns: list[str], plan: str, count: int, as_json: bool
) -> str:
    """The statement of :func:`_write_rows` for ``count`` users."""
    assign = ", ".join(f"{column} = v.{column}" for column in columns)
    names = ", ".join(columns)
    if plan == "sqlite":
        if as_json:
            rows = (
                f"SELECT json_extract(value, '$[0]') AS {key}, "
                + ", ".join(
                    f"json_extract(value, '$[{i}]') AS {column}"
                    for i, column in enumerate(columns, 1)
                )
                + " FROM json_each(%s)"
            )
        else:
            rows = (
                f"SELECT column1 AS {key}, "
                + ", ".join(f"column{i} AS {column}" for i, column in enumerate(columns, 2))
                + " FROM (VALUES "
                + ", ".join(["(%s, %s, %s, %s)"] * count)
                + ")"
            )
        return f"UPDATE {table} SET {assign} FROM ({rows}) AS v WHERE {table}.{key} = v.{key}"
    if as_json:
        # Each JSON row leads (STRAIGHT_JOIN) and finds its state row by primary key
        # (FORCE INDEX): only the rows this transaction locked are read and written.
        # (Otherwise a small state table is scanned, and InnoDB locks every row it
        # scans: other users' rows, out of order, which deadlocked two notify().)
        return (
            f"UPDATE JSON_TABLE(%s, '$[*]' COLUMNS ({key} BIGINT PATH '$[0]', "
            + ", ".join(f"{column} BIGINT PATH '$[{i}]'" for i, column in enumerate(columns, 1))
            + f")) AS v STRAIGHT_JOIN {table} AS s FORCE INDEX (PRIMARY) ON s.{key} = v.{key} SET "
            + ", ".join(f"s.{column} = v.{column}" for column in columns)
        )
    # Every row exists and is locked by this transaction: each "insert" is a duplicate
    # of its primary key, which updates that row and takes no other lock.
    return (
        f"INSERT INTO {table} ({key}, {names}) VALUES "
        + ", ".join(["(%s, %s, %s, %s)"] * count)
        + " ON DUPLICATE KEY UPDATE "
        + ", ".join(f"{column} = VALUES({column})" for column in columns)
    )


def _raise_pruned_through(marks: Mapping[Any, int], using: str) -> None:
    """Raise locked users' ``pruned_through`` to ``marks`` (never lower it): one
    statement per chunk of users where the database takes the marks as arrays
    (PostgreSQL) or a JSON array (SQLite 3.33+, MariaDB 10.6+/MySQL 8, integer user
    keys), as :func:`_write` does; else one ``UPDATE`` per user."""
    if not marks:
        return
    connection: Any = connections[using]
    items = sorted(marks.items(), key=lambda item: item[0])
    key = _field("user")
    quote = connection.ops.quote_name
    table = quote(InboxState._meta.db_table)
    column, mark = (quote(field.column) for field in (key, _field("pruned_through")))
    sql = None
    if connection.vendor == "postgresql":
        sql = (
            f"UPDATE {table} AS s SET {mark} = GREATEST(s.{mark}, v.m) "
            f"FROM unnest(CAST(%s AS {cast_type(key, connection)}[]), CAST(%s AS bigint[])) "
            f"AS v(u, m) WHERE s.{column} = v.u"
        )
    elif holds_integers(key) and _write_plan(connection) == "sqlite":
        sql = (
            f"UPDATE {table} SET {mark} = MAX({table}.{mark}, v.m) FROM (SELECT "
            "json_extract(value, '$[0]') AS u, json_extract(value, '$[1]') AS m "
            f"FROM json_each(%s)) AS v WHERE {table}.{column} = v.u"
        )
    elif holds_integers(key) and connection.vendor == "mysql" and has_json_table(connection):
        # The JSON rows lead and find each state row by primary key (see _write_rows_sql).
        sql = (
            "UPDATE JSON_TABLE(%s, '$[*]' COLUMNS (u BIGINT PATH '$[0]', m BIGINT PATH '$[1]')) "
            f"AS v STRAIGHT_JOIN {table} AS s FORCE INDEX (PRIMARY) ON s.{column} = v.u "
            f"SET s.{mark} = GREATEST(s.{mark}, v.m)"
        )
    if sql is None:
        for user_id, newest in items:
            InboxState.objects.using(using).filter(
                user_id=user_id, pruned_through__lt=newest
            ).update(pruned_through=newest)
        return
    with connection.cursor() as cursor:
        for chunk in _chunks(items, LOCK_CHUNK):
            user_ids = key_values(key, [user_id for user_id, _ in chunk], connection)
            marks_of = [newest for _, newest in chunk]
            if connection.vendor == "postgresql":
                cursor.execute(sql, [array_parameter(user_ids), array_parameter(marks_of)])
            else:
                rows = [list(row) for row in zip(user_ids, marks_of, strict=True)]
                cursor.execute(sql, [orjson.dumps(rows).decode()])


def _field(name: str) -> models.Field[Any, Any]:
    field = InboxState._meta.get_field(name)
    assert isinstance(field, models.Field)  # a concrete column, not a reverse relation
    return field


def _write_postgresql(items: Sequence[tuple[Any, RecipientState]], connection: Any) -> None:
    """PostgreSQL: the new values as four array parameters, one short statement per chunk."""
    meta = InboxState._meta
    quote = connection.ops.quote_name
    fields = [_field(name) for name in ("user", "last_id", "unread_count", "revision")]
    arrays = ", ".join(f"CAST(%s AS {cast_type(field, connection)}[])" for field in fields)
    key, *columns = (quote(field.column) for field in fields)
    sql = (
        f"UPDATE {quote(meta.db_table)} AS s SET "
        + ", ".join(f"{column} = v.{column}" for column in columns)
        + f" FROM unnest({arrays}) AS v({key}, {', '.join(columns)}) WHERE s.{key} = v.{key}"
    )
    with connection.cursor() as cursor:
        for chunk in _chunks(items, LOCK_CHUNK):
            cursor.execute(
                sql,
                [
                    array_parameter(
                        key_values(fields[0], [user_id for user_id, _ in chunk], connection)
                    ),
                    array_parameter([state.last_id for _, state in chunk]),
                    array_parameter([state.unread_count for _, state in chunk]),
                    array_parameter([state.revision for _, state in chunk]),
                ],
            )
