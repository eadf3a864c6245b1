"""Whether a test's writers really contend: sessions of the test database waiting for a lock.

A concurrency test that means to prove two writers contend asserts that one of
them waited, not only that both finished: a schedule that never makes one wait
would pass without the fix it guards.
"""

from __future__ import annotations

from django.db import connection

__all__ = ["POLL_SECONDS", "lock_waiters"]

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
