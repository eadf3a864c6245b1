"""Marking a user's whole inbox read: one ``UPDATE`` that reads that user's rows only.

InnoDB (MariaDB, MySQL) locks every row an ``UPDATE`` reads, not only those it
changes, and in ``REPEATABLE READ`` keeps the locks, and the gaps between the rows,
until the transaction ends. Given ``recipient = … AND read_at IS NULL AND id <= …``
on a small table, or with the id bound, MariaDB's optimizer read by the primary key
(or merged it with an index): every user's rows up to the bound. Marking one inbox
read then locked other users' rows — a retention batch deleting one of them
deadlocked with it (CI, the two-process retention test) — and, with the bound at
the newest id, the gap every new row is inserted into.

There the statement names the index on ``(recipient, id)`` (``FORCE INDEX``), so it
reads the user's rows up to the bound (read ones too: the user's own) and, in
``REPEATABLE READ``, the first entry of that index after them, to close the range:
the user's next row or, if there is none, the next user's first row. Only that row
is still shared: a transaction deleting it at that moment can still meet this one in
a deadlock (each holding one of the row's two index entries), which InnoDB ends by
rolling one back. The index on ``(recipient, read_at, id)`` would read fewer rows,
but MariaDB buffers the rows of an ``UPDATE`` that changes a column of the index it
reads, which made a large inbox slower (docs/benchmarks.md).

PostgreSQL locks only the rows it changes, and SQLite has one writer at a time: they
run the ORM's ``update()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connections

from livebell.models import Notification

__all__ = ["RECIPIENT_INDEX", "mark_all_read"]

#: The index on ``(recipient, id)`` (models.py).
RECIPIENT_INDEX = "livebell_rcpt_id"


def mark_all_read(user_id: Any, before_id: int | None, when: datetime, using: str) -> int:
    """Set ``read_at`` to ``when`` on the user's unread notifications (those up to
    ``before_id`` if given); how many. Run under the user's state lock
    (:func:`livebell.storage.state.lock`)."""
    connection = connections[using]
    if connection.vendor != "mysql":
        unread = Notification.objects.using(using).for_user(user_id).unread()
        if before_id is not None:
            unread = unread.filter(pk__lte=before_id)
        return unread.update(read_at=when)
    sql, params = _update_sql(connection, user_id, before_id, when)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _update_sql(
    connection: Any, user_id: Any, before_id: int | None, when: datetime
) -> tuple[str, list[Any]]:
    """The MariaDB/MySQL ``UPDATE`` of :func:`mark_all_read`, and its parameters."""
    quote = connection.ops.quote_name
    meta = Notification._meta
    recipient, read_at = meta.get_field("recipient"), meta.get_field("read_at")
    pk = quote(meta.pk.column)
    sql = (
        f"UPDATE {quote(meta.db_table)} FORCE INDEX ({quote(RECIPIENT_INDEX)})"
        f" SET {quote(read_at.column)} = %s"
        f" WHERE {quote(recipient.column)} = %s AND {quote(read_at.column)} IS NULL"
    )
    params = [
        read_at.get_db_prep_value(when, connection),
        recipient.get_db_prep_value(user_id, connection),
    ]
    if before_id is not None:
        sql += f" AND {pk} <= %s"
        params.append(before_id)
    return sql, params
