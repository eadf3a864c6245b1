"""The bench's data: its own database, users ``bench0…`` and their sessions.

Run by the bench as ``python -m bench.fixtures --users N`` with ``DATABASE_URL``
pointing at one of its databases (:mod:`bench.databases`) and the demo's settings. It creates
that database if missing (and refuses any other name), migrates it, empties
livebell's tables, makes sure users ``bench0`` to ``bench{N-1}`` exist, gives
each a fresh logged-in session, and prints ``{"users": [[id, session_key], ...]}``.

A peer project (:mod:`bench.peers`) runs the same with its own settings, in its
own interpreter, with ``--empty`` naming its notification models; the PostgreSQL
schema its settings keep its tables in (``BENCH_SCHEMA``) is created first.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = [
    "BENCH_DATABASE",
    "ensure_database",
    "ensure_schema",
    "main",
    "make_users",
    "make_users_and_sessions",
    "settle_database",
]

BENCH_DATABASE = "livebell_bench"
USERNAME_PREFIX = "bench"


def ensure_database(url: str) -> None:
    """Create the bench's database on the server of ``url`` if it does not exist yet.

    PostgreSQL and MySQL/MariaDB: the database ``livebell_bench`` on loopback; SQLite:
    a file named ``livebell_bench.sqlite3`` (made by Django on first use).
    """
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme == "sqlite":
        if not name.endswith(f"/{BENCH_DATABASE}.sqlite3"):
            raise SystemExit(
                f"refusing to use {url!r}: the bench owns only {BENCH_DATABASE}.sqlite3"
            )
        return
    if name != BENCH_DATABASE or parts.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit(
            f"refusing to use {url!r}: the bench owns only {BENCH_DATABASE} on loopback"
        )
    if parts.scheme in ("mysql", "mariadb"):
        conn = _mysql(url, database=False)
        try:
            conn.cursor().execute(
                f"CREATE DATABASE IF NOT EXISTS `{BENCH_DATABASE}` CHARACTER SET utf8mb4"
            )
        finally:
            conn.close()
        return
    import psycopg

    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')


def ensure_schema(url: str, schema: str) -> None:
    """Create ``schema`` in the bench's database if it does not exist yet."""
    import psycopg
    from psycopg import sql

    if not schema.replace("_", "").isalnum():
        raise SystemExit(f"refusing schema name {schema!r}")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def settle_database(url: str, tables: Sequence[str]) -> None:
    """Bring the tables a run writes to a steady state, between workloads.

    On PostgreSQL, ``VACUUM (ANALYZE)``: a workload that stores tens of thousands of
    rows leaves autovacuum work behind; on two cores it would run during the next
    phase (of whichever target comes next) and show up in that phase's latencies.
    Vacuumed, every phase starts from a table with statistics and a visibility map,
    as a database in steady state has. ``tables`` are a project's
    (``bench.targets.Project.tables``), schema-qualified where they are not in
    ``public``. On MySQL/MariaDB, ``ANALYZE TABLE``; on SQLite, ``ANALYZE`` and a
    checkpoint that empties the write-ahead log into the database file.
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        import sqlite3

        db = sqlite3.connect(urlsplit(url).path, timeout=30)
        try:
            for table in tables:
                db.execute(f'ANALYZE "{table}"')
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        return
    if scheme in ("mysql", "mariadb"):
        conn = _mysql(url)
        try:
            cursor = conn.cursor()
            cursor.execute("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables))
            cursor.fetchall()
        finally:
            conn.close()
        return
    import psycopg
    from psycopg import sql

    names = [sql.Identifier(*name.split(".")) for name in tables]
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.SQL(", ").join(names)))


def _mysql(url: str, *, database: bool = True) -> Any:
    import MySQLdb

    parts = urlsplit(url)
    options: dict[str, Any] = {"database": parts.path.lstrip("/")} if database else {}
    return MySQLdb.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        connect_timeout=5,
        **options,
    )


def make_users(count: int) -> list[Any]:
    """Users ``bench0…`` to ``bench{count-1}``, created when missing, in that order."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    user_model = get_user_model()
    names = [f"{USERNAME_PREFIX}{i}" for i in range(count)]
    existing = set(
        user_model.objects.filter(username__startswith=USERNAME_PREFIX).values_list(
            "username", flat=True
        )
    )
    user_model.objects.bulk_create(
        # An unusable password: nobody logs in with it, and no slow hashing here.
        [
            user_model(username=name, password=make_password(None))
            for name in names
            if name not in existing
        ],
        batch_size=1000,
    )
    by_name = {u.get_username(): u for u in user_model.objects.filter(username__in=names)}
    return [by_name[name] for name in names]


def make_users_and_sessions(count: int) -> list[tuple[Any, str]]:
    """Users ``bench0…`` (created when missing) and one new logged-in session each.

    Every other session of the database (or schema) is deleted: they are all the bench's.
    """
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    users = make_users(count)
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    Session.objects.all().delete()  # the bench database's sessions are all the bench's
    sessions = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    "_auth_user_id": str(user.pk),
                    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                    "_auth_user_hash": user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in users
    ]
    Session.objects.bulk_create(sessions, batch_size=1000)
    return [(user.pk, session.session_key) for user, session in zip(users, sessions, strict=True)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument(
        "--empty",
        default="livebell.Notification,livebell.InboxState",
        help="comma-separated app_label.Model whose tables are emptied (default: livebell's)",
    )
    args = parser.parse_args(argv)

    ensure_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
    import django
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connection

    django.setup()
    schema = getattr(settings, "BENCH_SCHEMA", None)  # a peer project's (bench.peers)
    if schema:
        ensure_schema(os.environ["DATABASE_URL"], schema)
    call_command("migrate", interactive=False, verbosity=0)

    # Every inbox empty, and its counters with it (TRUNCATE where the database has it).
    models = [apps.get_model(label) for label in args.empty.split(",") if label]
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        for statement in connection.ops.sql_flush(no_style(), tables, allow_cascade=True):
            cursor.execute(statement)
    users = make_users_and_sessions(args.users)
    sys.stdout.buffer.write(orjson.dumps({"users": users}) + b"\n")


if __name__ == "__main__":
    main()
