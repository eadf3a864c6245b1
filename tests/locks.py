"""Whether a test's writers really contend, and which rows a transaction holds locked.

A concurrency test that means to prove two writers contend asserts that one of
them waited, not only that both finished: a schedule that never makes one wait
would pass without the fix it guards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import OperationalError, connection, transaction

__all__ = ["POLL_SECONDS", "can_lock_now", "in_thread", "lock_waiters"]

#: How often to ask. InnoDB refreshes its ``information_schema`` copy of the
#: transactions only when it has not been read for 0.1 s: asked more often, it
#: would keep answering from the first read.
POLL_SECONDS = 0.2

_WAITERS = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'",
    "mysql": "SELECT count(*) FROM information_schema.INNODB_TRX AS t "
    "JOIN information_schema.PROCESSLIST AS p ON p.ID = t.trx_mysql_thread_id "
    "WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()",
}


def lock_waiters() -> int:
    """How many sessions of the test database wait for a row lock right now
    (PostgreSQL, MariaDB/MySQL); 0 on SQLite, where a writer waits for the
    database's own lock instead."""
    sql = _WAITERS.get(connection.vendor)
    if sql is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])


def in_thread(work: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    """``work()`` in a thread of its own, with its own database connection; what it
    raises goes into ``errors``, for the test to fail on."""
    from django.db import connection as own

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported to the test, which fails on it
            errors.append(exc)
        finally:
            own.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def can_lock_now(model: Any, keys: Sequence[Any]) -> bool:
    """Whether another connection can lock these rows of ``model`` (by primary key)
    without waiting (``FOR UPDATE NOWAIT``; PostgreSQL, MariaDB/MySQL)."""
    from django.db import connection as own

    outcome: list[bool] = []

    def probe() -> None:
        quote = own.ops.quote_name
        # By key: InnoDB would scan a small table, and lock the other rows itself.
        by_key = " FORCE INDEX (PRIMARY)" if own.vendor == "mysql" else ""
        pk = quote(model._meta.pk.column)
        marks = ", ".join(["%s"] * len(keys))
        try:
            with transaction.atomic(), own.cursor() as cursor:
                cursor.execute(
                    f"SELECT {pk} FROM {quote(model._meta.db_table)}{by_key}"
                    f" WHERE {pk} IN ({marks}) FOR UPDATE NOWAIT",
                    list(keys),
                )
                cursor.fetchall()
            outcome.append(True)
        except OperationalError:
            outcome.append(False)

    errors: list[BaseException] = []
    in_thread(probe, errors).join(timeout=20)
    assert errors == []
    return outcome == [True]
