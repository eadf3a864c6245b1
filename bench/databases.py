"""The databases a run measures livebell on, described once.

``make bench`` runs on all three: PostgreSQL first, with every target and workload;
then MySQL/MariaDB and SQLite, each with livebell and the reference (the tutorial's
design on the same database) through W1 to W4 and the storage workload, so that no
backend can fall behind unnoticed. The quick run measures W1 and storage on the
other two. ``--databases`` picks some.

Each database is the bench's own: ``livebell_bench`` on the loopback PostgreSQL and
MySQL/MariaDB servers (created when missing, see :func:`bench.fixtures.ensure_database`),
and a fresh SQLite file in the run's temporary directory (the demo's settings put it
in WAL mode, so a server reads while a sender writes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.procs import LOOPBACK

__all__ = ["DATABASES", "Database", "server_version"]


@dataclass(frozen=True)
class Database:
    """One database backend: its name on the command line, how tables title it, its URL."""

    name: str
    title: str
    # The URL, with ``{dir}`` standing for the run's temporary directory (SQLite).
    url_template: str
    # PostgreSQL measures every target (the peers keep their tables in its schemas);
    # the others, livebell and the reference only (bench.sizes.Sizes.on_database).
    all_targets: bool = False

    def url(self, run_dir: Path) -> str:
        return self.url_template.format(dir=run_dir)

    @property
    def vendor(self) -> str:
        """Django's ``connection.vendor`` for it."""
        return {"postgresql": "postgresql", "mariadb": "mysql", "sqlite": "sqlite"}[self.name]


DATABASES: dict[str, Database] = {
    database.name: database
    for database in (
        Database(
            "postgresql",
            "PostgreSQL",
            f"postgres://postgres@{LOOPBACK}:5432/livebell_bench",
            all_targets=True,
        ),
        Database("mariadb", "MariaDB", f"mysql://root@{LOOPBACK}:3306/livebell_bench"),
        Database("sqlite", "SQLite", "sqlite:///{dir}/livebell_bench.sqlite3"),
    )
}


def server_version(database: Database, url: str) -> str:
    """The server's name and version as it reports them, e.g. ``MariaDB 10.11.6``."""
    if database.name == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    if database.name == "mariadb":
        from urllib.parse import urlsplit

        import MySQLdb

        parts = urlsplit(url)
        conn = MySQLdb.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "root"
        )
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT VERSION()")
            (text,) = cursor.fetchone()
        finally:
            conn.close()
        number = text.split("-")[0]
        return f"MariaDB {number}" if "mariadb" in text.lower() else f"MySQL {number}"
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        (text,) = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {text.split()[0]}"
