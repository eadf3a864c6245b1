"""Storing new notifications: the rows, and their recipients' state, in one transaction.

:func:`store` locks the recipients' state rows (:mod:`livebell.storage.state`), inserts
the rows, and records the new state, so a user's ids increase in commit order
and each new row knows the state it followed (its :class:`~livebell.storage.state.Transition`).

A notification to N users is N rows that differ only in their recipient (and
id). Django's ``bulk_create`` would prepare every field of every row in Python
(about 0.1 s per 1,000 rows on PostgreSQL); here each notification's values are
prepared once, and the rows are written with plain multi-row INSERTs, each
row's parameters being that one prepared list with its recipient filled in (on
PostgreSQL, with arrays that ``unnest()`` turns into rows: short statements that
psycopg does not parse again at each call).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

import orjson
from django.db import connections
from django.db.models import signals
from django.db.models.base import ModelState

from livebell.conf import livebell_settings
from livebell.models import ACTORS_KEPT, Notification
from livebell.storage import actors, state
from livebell.storage._arrays import (
    array_parameter,
    cast_type,
    db_value,
    has_json_table,
    holds_integers,
    key_values,
)
from livebell.storage.state import Transition

__all__ = ["RowPlan", "store"]


class RowPlan(NamedTuple):
    """One notification to store: its fields, and whom it goes to (no duplicates)."""

    #: An unsaved Notification holding every field but ``id`` and ``recipient``.
    template: Notification
    recipient_ids: list[Any]
    #: For a type that groups: merge into the recipient's unread row of the same type
    #: and target that is at most this old (see livebell.types).
    group_window: timedelta | None = None


def store(plans: Sequence[RowPlan], using: str) -> tuple[list[Notification], dict[int, Transition]]:
    """Insert the rows of ``plans`` and record their recipients' new state.

    Returns the rows (plan by plan, recipients in order) with their ids, and each
    row's transition by id. Runs inside a transaction: the recipients' state rows
    are locked first, so two transactions notifying the same user insert one after
    the other. A user's ids then increase in commit order, which makes ``last_id``
    an exact catch-up point and lets a socket detect a missed push (a
    ``previous_id`` it has not sent).

    A plan of a grouping type merges: a recipient's recent unread row of the same
    type and target is replaced by a new row (a new id, so catch-ups stay exact)
    that carries the count, the latest actors and the group on, and is deleted.

    Raises:
        ValueError: a recipient whose user row does not exist.
    """
    before = state.lock([rid for plan in plans for rid in plan.recipient_ids], using)
    newest = {user_id: recipient.last_id for user_id, recipient in before.items()}
    rows_of: dict[int, list[Notification]] = {}
    # Rows that replace an unread one, by the new row's id.
    replacing: dict[int, int] = {}
    plain = [(i, plan) for i, plan in enumerate(plans) if plan.group_window is None]
    for (i, _), rows in zip(
        plain, _insert_plans([p for _, p in plain], newest, using), strict=True
    ):
        rows_of[i] = rows
    for i, plan in enumerate(plans):
        if plan.group_window is not None:
            # One at a time: a later plan of the same group merges into this one's row.
            rows_of[i] = _store_grouped(plan, newest, replacing, using)
    stored = [row for i in range(len(plans)) for row in rows_of[i]]
    return stored, state.record_new(before, stored, using, replacing=replacing)


def _store_grouped(
    plan: RowPlan, newest: dict[Any, int], replacing: dict[int, int], using: str
) -> list[Notification]:
    """Store one plan of a grouping type, merging into each recipient's open group."""
    template = plan.template
    assert plan.group_window is not None
    since = template.created_at - plan.group_window
    previous: dict[Any, Notification] = {}
    for start in range(0, len(plan.recipient_ids), state.LOCK_CHUNK):
        # A locking read: the newest committed rows, whatever the isolation level.
        candidates = (
            Notification.objects.using(using)
            .select_for_update()
            .filter(
                recipient_id__in=plan.recipient_ids[start : start + state.LOCK_CHUNK],
                type=template.type,
                target_content_type_id=template.target_content_type_id,
                target_object_id=template.target_object_id,
                read_at__isnull=True,
                created_at__gte=since,
            )
            .order_by("-id")
            .only("id", "recipient_id", "count", "actors", "group")
        )
        for row in candidates:
            previous.setdefault(row.recipient_id, row)
    # What the merged rows carry on: the current names, deleted users as ghosts.
    actors.refresh(previous.values(), using)
    if not previous:
        [rows] = _insert_plans([plan], newest, using)
        return rows
    subplans = [plan._replace(recipient_ids=[r for r in plan.recipient_ids if r not in previous])]
    for recipient_id, old in previous.items():
        merged = copy.copy(template)
        merged.count = old.count + 1
        merged.group = old.group or old.pk
        merged.actors = _latest_actors(template.actors, old.actors)
        subplans.append(plan._replace(template=merged, recipient_ids=[recipient_id]))
    inserted = {
        row.recipient_id: row for rows in _insert_plans(subplans, newest, using) for row in rows
    }
    Notification.objects.using(using).filter(pk__in=[old.pk for old in previous.values()]).delete()
    for recipient_id in previous:
        replacing[inserted[recipient_id].pk] = 1  # it replaced one unread row
    return [inserted[recipient_id] for recipient_id in plan.recipient_ids]


def _latest_actors(newest: list[Any], older: list[Any]) -> list[Any]:
    """The newest actors first, each once, at most ``ACTORS_KEPT``."""
    seen: set[Any] = set()
    kept = []
    for actor in [*newest, *older]:
        if actor["id"] not in seen:
            seen.add(actor["id"])
            kept.append(actor)
    return kept[:ACTORS_KEPT]


def _insert_plans(
    plans: Sequence[RowPlan], newest: dict[Any, int], using: str
) -> list[list[Notification]]:
    """Insert the plans' rows; each plan's rows, recipients in order.

    ``newest`` is each recipient's newest id so far in this transaction, and is
    moved on to the rows inserted.
    """
    filled = [plan for plan in plans if plan.recipient_ids]
    stored = _insert_rows(filled, newest, using) if filled else []
    for row in stored:
        newest[row.recipient_id] = max(newest[row.recipient_id], row.pk)
    by_plan, start = [], 0
    for plan in plans:
        by_plan.append(stored[start : start + len(plan.recipient_ids)])
        start += len(plan.recipient_ids)
    return by_plan


def _insert_rows(
    plans: Sequence[RowPlan], newest: dict[Any, int], using: str
) -> list[Notification]:
    """Insert the plans' rows in as few statements as the database allows; the rows,
    plan by plan, recipients in order."""
    connection = connections[using]
    form = _insert_form(connection)
    if form == "postgresql":
        new_ids = _insert_postgresql(plans, connection)
    else:
        returning = bool(connection.features.can_return_rows_from_bulk_insert)
        new_ids = []
        for insert, run in _runs(plans, form):
            new_ids += insert(run, connection, returning=returning)
        if not returning:
            # MySQL cannot return the new ids from a multi-row INSERT. The recipients
            # are locked, so their rows above the newest ids so far are exactly the
            # ones just inserted, and a recipient's rows got increasing ids in
            # insertion order.
            return _read_back(plans, newest, using)
    in_order = iter(new_ids)
    return [
        row
        for plan in plans
        for row in _instances(plan, [next(in_order) for _ in plan.recipient_ids], using)
    ]


#: A notification with at least this many recipients is written in the JSON form;
#: smaller ones go with their neighbours in one multi-row ``VALUES``. The JSON form
#: is a statement per notification, which costs more than escaping a few rows: a
#: group commit of many single-recipient calls was slower in it on MariaDB and
#: SQLite, as measured in docs/benchmarks.md.
JSON_FORM_FROM = 16

_Insert = Callable[..., list[int]]


def _runs(plans: Sequence[RowPlan], form: str) -> list[tuple[_Insert, list[RowPlan]]]:
    """The plans cut into consecutive runs, each with the INSERT that writes it.

    Runs keep the plans' order, so a recipient's rows still get increasing ids in
    the order of the calls.
    """
    runs: list[tuple[_Insert, list[RowPlan]]] = []
    for plan in plans:
        many = form == "json" and len(plan.recipient_ids) >= JSON_FORM_FROM
        insert = _insert_json if many else _insert
        if runs and runs[-1][0] is insert:
            runs[-1][1].append(plan)
        else:
            runs.append((insert, [plan]))
    return runs


def _insert_form(connection: Any) -> str:
    """How the rows are written on this database: ``"postgresql"`` (arrays that
    ``unnest()`` turns into rows), ``"json"`` (MariaDB 10.6+, MySQL 8 and SQLite: a
    notification's recipients as one JSON array that ``JSON_TABLE``/``json_each``
    turns into rows) or ``"values"``: multi-row ``VALUES``, the portable form,
    which the others are tested against (tests/test_storage_forms.py).

    The JSON form needs an integer user key (the array's elements are numbers).
    """
    if connection.vendor == "postgresql":
        return "postgresql"
    _, recipient_field = _columns()
    if not holds_integers(recipient_field):
        return "values"
    if connection.vendor == "sqlite" or has_json_table(connection):
        return "json"
    return "values"


def _columns() -> tuple[list[Any], Any]:
    """The fields an INSERT writes (all but the primary key), and the recipient's."""
    meta = Notification._meta
    return [f for f in meta.concrete_fields if not f.primary_key], meta.get_field("recipient")


def _prepared(plan: RowPlan, fields: list[Any], connection: Any) -> list[Any]:
    """The plan's database values for ``fields``, prepared once for all its rows."""
    return [db_value(f, f.pre_save(plan.template, True), connection) for f in fields]


def _row_values(
    plans: Sequence[RowPlan], fields: list[Any], recipient_field: Any, connection: Any
) -> Iterator[list[Any]]:
    """Each row's database values for ``fields``, plan by plan, recipients in order: the
    plan's values prepared once, with the row's recipient filled in."""
    slot = fields.index(recipient_field)
    for plan in plans:
        shared = _prepared(plan, fields, connection)
        for recipient_id in key_values(recipient_field, plan.recipient_ids, connection):
            row = shared.copy()
            row[slot] = recipient_id
            yield row


def _insert(plans: Sequence[RowPlan], connection: Any, *, returning: bool) -> list[int]:
    meta = Notification._meta
    fields, recipient_field = _columns()
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = f" RETURNING {quote(meta.pk.column)}" if returning else ""

    total = sum(len(plan.recipient_ids) for plan in plans)
    # SQLite allows 999 parameters per statement: about 90 rows.
    size = max(
        1,
        min(
            int(livebell_settings.BATCH_SIZE), connection.ops.bulk_batch_size(fields, range(total))
        ),
    )
    ids: list[int] = []
    batch: list[list[Any]] = []
    with connection.cursor() as cursor:
        for row in _row_values(plans, fields, recipient_field, connection):
            batch.append(row)
            if len(batch) == size:
                ids.extend(_execute(cursor, connection, head, row_sql, tail, batch, returning))
                batch = []
        if batch:
            ids.extend(_execute(cursor, connection, head, row_sql, tail, batch, returning))
    return ids


def _insert_json(plans: Sequence[RowPlan], connection: Any, *, returning: bool) -> list[int]:
    """MariaDB, MySQL and SQLite: each notification's rows in one ``INSERT … SELECT``
    per ``BATCH_SIZE`` recipients; the new ids in row order (when ``returning``).

    Its values are one parameter each and its recipients one JSON array: a dozen
    parameters, where a multi-row ``VALUES`` takes one per column and row, which
    MySQLdb escapes one by one in Python (what that cost is in docs/benchmarks.md).
    The ids come back with their recipient,
    so their order does not depend on the database's.
    """
    fields, recipient_field = _columns()
    plan_fields = [f for f in fields if f is not recipient_field]
    sql = _json_insert_sql(str(connection.alias), returning)
    size = max(1, int(livebell_settings.BATCH_SIZE))
    ids: list[int] = []
    with connection.cursor() as cursor:
        for plan in plans:
            shared = _prepared(plan, plan_fields, connection)
            recipients = key_values(recipient_field, plan.recipient_ids, connection)
            for start in range(0, len(recipients), size):
                chunk = recipients[start : start + size]
                cursor.execute(sql, [*shared, orjson.dumps(chunk).decode()])
                if returning:
                    by_recipient = dict((recipient, pk) for pk, recipient in cursor.fetchall())
                    ids.extend(by_recipient[recipient] for recipient in chunk)
    return ids


@functools.lru_cache(maxsize=8)
def _json_insert_sql(alias: str, returning: bool) -> str:
    """The INSERT of :func:`_insert_json`: the notification's values, then the JSON array
    of recipients, in the order the array has them."""
    connection: Any = connections[alias]
    meta = Notification._meta
    fields, recipient_field = _columns()
    quote = connection.ops.quote_name
    expressions = ["batch.recipient" if f is recipient_field else "%s" for f in fields]
    if connection.vendor == "sqlite":
        rows = "(SELECT key AS position, value AS recipient FROM json_each(%s)) AS batch"
    else:
        rows = (
            "JSON_TABLE(%s, '$[*]' COLUMNS (position FOR ORDINALITY, "
            "recipient BIGINT PATH '$')) AS batch"
        )
    tail = (
        f" RETURNING {quote(meta.pk.column)}, {quote(recipient_field.column)}" if returning else ""
    )
    return (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT {', '.join(expressions)} FROM {rows} ORDER BY batch.position{tail}"
    )


def _insert_postgresql(plans: Sequence[RowPlan], connection: Any) -> list[int]:
    """PostgreSQL: the plans' rows, one short statement per ``BATCH_SIZE`` rows; their
    new ids in row order.

    The rows go as arrays that ``unnest()`` turns into rows: one array for each
    column whose value differs between the statement's rows (the recipient's
    always), and one parameter for each column that is the same in all of them. A
    broadcast is its recipients' ids as one array; a group commit of 64 calls, four
    arrays (recipient, data, actors, time) instead of one per column, which psycopg
    builds element by element in Python. A VALUES list would take a parameter per
    column and row, a query that psycopg parses in Python at each call (a sixth of
    a 64-call group commit's time). The ids come back in the order of the arrays,
    which Django's own ``bulk_create`` relies on for its ``unnest()`` INSERT.
    """
    fields, recipient_field = _columns()
    plan_fields = [f for f in fields if f is not recipient_field]
    prepared = [
        (
            _prepared(plan, plan_fields, connection),
            key_values(recipient_field, plan.recipient_ids, connection),
        )
        for plan in plans
    ]
    ids: list[int] = []
    with connection.cursor() as cursor:
        for chunk in _chunks(prepared, max(1, int(livebell_settings.BATCH_SIZE))):
            first = chunk[0][0]
            shared = tuple(
                all(_same(values[k], first[k]) for values, _ in chunk)
                for k in range(len(plan_fields))
            )
            columns = [
                array_parameter(
                    [
                        value
                        for values, recipients in chunk
                        for value in [values[k]] * len(recipients)
                    ]
                )
                for k in range(len(plan_fields))
                if not shared[k]
            ]
            recipients = array_parameter([rid for _, rids in chunk for rid in rids])
            cursor.execute(
                _unnest_insert_sql(str(connection.alias), shared),
                [*(first[k] for k in range(len(plan_fields)) if shared[k]), *columns, recipients],
            )
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


def _chunks(
    prepared: list[tuple[list[Any], list[Any]]], size: int
) -> Iterator[list[tuple[list[Any], list[Any]]]]:
    """``(values, recipients)`` pairs cut into statements of at most ``size`` rows."""
    chunk: list[tuple[list[Any], list[Any]]] = []
    room = size
    for values, recipients in prepared:
        start = 0
        while start < len(recipients):
            part = recipients[start : start + room]
            chunk.append((values, part))
            start += len(part)
            room -= len(part)
            if room == 0:
                yield chunk
                chunk, room = [], size
    if chunk:
        yield chunk


def _same(a: Any, b: Any) -> bool:
    # type() is: 1 == True == 1.0, which the columns' casts would tell apart.
    return a is b or (type(a) is type(b) and a == b)


@functools.lru_cache(maxsize=64)
def _unnest_insert_sql(alias: str, shared: tuple[bool, ...]) -> str:
    """The INSERT of :func:`_insert_postgresql`. Each column (but the recipient's) that
    ``shared`` flags is one parameter, the others are arrays. The parameters: the
    shared values in column order, then the arrays in column order, the recipients' last."""
    connection: Any = connections[alias]
    meta = Notification._meta
    fields, recipient_field = _columns()
    quote = connection.ops.quote_name
    flags = iter(shared)
    expressions: list[str] = []
    arrays: list[str] = []
    names: list[str] = []
    for f in fields:
        if f is recipient_field:
            expressions.append("recipient")
        elif next(flags):
            expressions.append(f"CAST(%s AS {cast_type(f, connection)})")
        else:
            names.append(f"c{len(names)}")
            arrays.append(f"CAST(%s AS {cast_type(f, connection)}[])")
            expressions.append(names[-1])
    # Last, as its parameter is.
    names.append("recipient")
    arrays.append(f"CAST(%s AS {cast_type(recipient_field, connection)}[])")
    return (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT {', '.join(expressions)} FROM unnest({', '.join(arrays)}) "
        f"AS batch({', '.join(names)}) RETURNING {quote(meta.pk.column)}"
    )


def _execute(
    cursor: Any,
    connection: Any,
    head: str,
    row_sql: str,
    tail: str,
    batch: list[list[Any]],
    returning: bool,
) -> list[int]:
    cursor.execute(
        head + ", ".join([row_sql] * len(batch)) + tail,
        [value for row in batch for value in row],
    )
    if not returning:
        return []
    return [row[0] for row in cursor.fetchall()]


def _instances(plan: RowPlan, ids: Sequence[int], using: str) -> list[Notification]:
    """The stored rows as model instances (``ids[i]`` is the row of the plan's i-th
    recipient), built from the plan without a query."""
    template = plan.template
    names = [f.attname for f in Notification._meta.concrete_fields]
    related = _related(template)
    if signals.pre_init.has_listeners(Notification) or signals.post_init.has_listeners(
        Notification
    ):
        return _instances_initialised(plan, ids, using, names, related)
    # What Model.from_db() makes, without Model.__init__ setting each field through
    # setattr() for every recipient (its cost: docs/benchmarks.md).
    # Only while nobody listens to the init signals that __init__ would send.
    shared = {name: getattr(template, name) for name in names}
    new = object.__new__
    rows = []
    for recipient_id, pk in zip(plan.recipient_ids, ids, strict=True):
        row = new(Notification)
        state = ModelState()
        state.adding, state.db, state.fields_cache = False, using, related.copy()
        row.__dict__.update(shared, _state=state, id=pk, recipient_id=recipient_id)
        rows.append(row)
    return rows


def _instances_initialised(
    plan: RowPlan, ids: Sequence[int], using: str, names: list[str], related: dict[str, Any]
) -> list[Notification]:
    """:func:`_instances` through ``Model.from_db()``, which sends the init signals."""
    values = [getattr(plan.template, name) for name in names]
    id_slot, recipient_slot = names.index("id"), names.index("recipient_id")
    rows = []
    for recipient_id, pk in zip(plan.recipient_ids, ids, strict=True):
        values[id_slot], values[recipient_slot] = pk, recipient_id
        row = Notification.from_db(using, names, values)
        for name, value in related.items():
            setattr(row, name, value)
        rows.append(row)
    return rows


def _related(template: Notification) -> dict[str, Any]:
    """The actor and target type objects the caller passed, by field name: copied onto
    each stored row, so that its payload needs no query."""
    return {
        name: getattr(template, name)
        for name, key in (("actor", "actor_id"), ("target_content_type", "target_content_type_id"))
        if getattr(template, key) is not None
    }


def _read_back(plans: Sequence[RowPlan], newest: dict[Any, int], using: str) -> list[Notification]:
    previous_ids = newest
    recipient_ids = list(dict.fromkeys(rid for plan in plans for rid in plan.recipient_ids))
    newest_last: dict[Any, list[Notification]] = {}
    for start in range(0, len(recipient_ids), state.LOCK_CHUNK):
        chunk = recipient_ids[start : start + state.LOCK_CHUNK]
        floor = min(previous_ids[user_id] for user_id in chunk)
        fetched = (
            Notification.objects.using(using)
            .filter(recipient_id__in=chunk, id__gt=floor)
            .order_by("-id")
        )
        for n in fetched:
            if n.pk > previous_ids[n.recipient_id]:
                newest_last.setdefault(n.recipient_id, []).append(n)
    stored = []
    for plan in plans:
        related = _related(plan.template)
        for recipient_id in plan.recipient_ids:
            # Popping from the end of each newest-first list hands them out oldest first.
            row = newest_last[recipient_id].pop()
            for name, value in related.items():
                setattr(row, name, value)
            stored.append(row)
    return stored
