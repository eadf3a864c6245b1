"""What a phase cost the database, from PostgreSQL's cumulative statistics.

``pg_stat_statements`` is not loaded on the bench's server (it needs
``shared_preload_libraries`` and a restart), so the bench reads the counters that
are always there, for its own database: committed and rolled-back transactions
(``pg_stat_database``; Django runs in autocommit, so each statement outside
``atomic()`` is one transaction) and sequential and index scans per table
(``pg_stat_user_tables``). They count every client of the database, so they are
only this run's when nothing else uses ``livebell_bench`` meanwhile: the reader
reports how many other connections it saw.

A backend publishes its counters at most once a second while busy, 10 s after
going idle, and when it exits. To read complete figures the reader ends this
run's connections to the database (the bench tags them with an
``application_name``; the servers' Django connections have health checks on and
reopen transparently, the senders close theirs themselves), waits until they are
gone and the counters stop moving. It holds one open transaction from its first
reading to its last, so that its own queries are never counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["DbCounters", "DbReader", "measurable", "reading", "tagged"]

# Longest wait for the run's connections to go and their counters to appear.
GONE_SECONDS = 10.0
# Counters unchanged over this long are taken as published.
STEADY_SECONDS = 0.2

_OTHERS = (
    "FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


def measurable(url: str) -> bool:
    """Whether this module can read the database of ``url`` (PostgreSQL's only)."""
    return urlsplit(url).scheme in ("postgres", "postgresql", "pgsql")


def tagged(url: str, application_name: str) -> str:
    """``url`` with ``application_name`` in its query (libpq and Django both pass it on)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "application_name"]
    return parts._replace(
        query=urlencode([*query, ("application_name", application_name)])
    ).geturl()


@dataclass(frozen=True)
class DbCounters:
    """Cumulative counters of one database at one moment."""

    transactions: int
    # Table name -> (sequential scans, index scans).
    scans: dict[str, tuple[int, int]]

    def minus(self, before: DbCounters) -> DbCounters:
        """The counts between ``before`` and this reading."""
        scans = {}
        for table, (seq, idx) in self.scans.items():
            seq_before, idx_before = before.scans.get(table, (0, 0))
            scans[table] = (seq - seq_before, idx - idx_before)
        return DbCounters(self.transactions - before.transactions, scans)


class DbReader:
    """Reads :class:`DbCounters` of the database it is connected to (see :func:`reading`)."""

    def __init__(self, conn: Any, application_name: str) -> None:
        self.conn = conn
        self.application_name = application_name
        # The most connections of other clients (not this run's) seen at a reading.
        self.others = 0

    def _count(self, where: str = "", *params: Any) -> int:
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        row = self.conn.execute(f"SELECT count(*) {_OTHERS}{where}", params).fetchone()
        return int(row[0])

    def _counters(self) -> DbCounters:
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        (transactions,) = self.conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
        # Tables outside ``public`` (the peers' schemas, bench.peers) are named with their
        # schema: several projects have a django_session.
        scans = self.conn.execute(
            "SELECT CASE WHEN schemaname = 'public' THEN relname"
            " ELSE schemaname || '.' || relname END,"
            " coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables"
        ).fetchall()
        return DbCounters(int(transactions), {name: (int(s), int(i)) for name, s, i in scans})

    def read(self) -> DbCounters:
        """End this run's connections, wait until they are gone and published, read."""
        mine = " AND application_name = %s"
        # Statistics views are cached per transaction: see the connections of now.
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        self.conn.execute(
            f"SELECT pg_terminate_backend(pid) {_OTHERS}{mine}", (self.application_name,)
        )
        deadline = time.monotonic() + GONE_SECONDS
        while self._count(mine, self.application_name) and time.monotonic() < deadline:
            time.sleep(0.05)
        # A backend leaves pg_stat_activity just before it publishes its counters.
        counters = self._counters()
        while time.monotonic() < deadline:
            time.sleep(STEADY_SECONDS)
            again = self._counters()
            if again == counters:
                break
            counters = again
        self.others = max(
            self.others, self._count(" AND application_name <> %s", self.application_name)
        )
        return counters


@contextmanager
def reading(url: str) -> Iterator[DbReader]:
    """A reader on the database of ``url``, in one transaction rolled back at the end.

    ``url`` is the run's, tagged with its ``application_name`` (see :func:`tagged`).
    """
    import psycopg

    application_name = dict(parse_qsl(urlsplit(url).query)).get("application_name")
    if not application_name:
        raise ValueError("the database URL has no application_name tagging this run")
    with psycopg.connect(url, connect_timeout=5) as conn:
        try:
            yield DbReader(conn, application_name)
        finally:
            conn.rollback()
