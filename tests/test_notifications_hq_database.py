"""A database made by the real django-notifications-hq 1.8.3 migrates forward with
livebell-notifications-hq and reads back identically through hq's API.

The real hq runs on Django 4.2 in a virtualenv of its own (Python 3.11, pinned
versions from the package registry), cached between runs. It migrates a SQLite
database and stores notifications of every kind (tests/hq_database/make_data.py);
tests/hq_database/dump.py reads them through hq's API there, and again here after
``migrate``; on SQLite, PostgreSQL and MariaDB (in databases of its own). Missing
pieces (python3.11, the registry, a server) skip locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import service_missing, tcp_reachable

pytestmark = pytest.mark.any_database

SCRIPTS = Path(__file__).resolve().parent / "hq_database"
#: The environment hq 1.8.3 last ran in: its own requirements, pinned.
HQ_ENVIRONMENT = (
    "Django==4.2.30",
    "django-notifications-hq==1.8.3",
    "django-model-utils==5.0.0",
    "jsonfield==3.1.0",
    "swapper==1.5.0",
    "pytz==2026.6",
    # The drivers, at the versions livebell's own environment pins.
    "psycopg[binary]==3.3.9",
    "mysqlclient==2.3.1",
)
SERVERS = {
    "postgresql": ("127.0.0.1", 5432, "postgresql://postgres@127.0.0.1:5432/"),
    "mysql": ("127.0.0.1", 3306, "mysql://root@127.0.0.1:3306/"),
}


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = "-".join(p.replace("==", "") for p in HQ_ENVIRONMENT[:2])
    return base / "livebell-tests" / f"venv-{key}"


@pytest.fixture(scope="module")
def hq_python() -> str:
    """The python of a virtualenv with the real hq 1.8.3 on Django 4.2 (made once)."""
    venv = _cache_dir()
    python = venv / "bin" / "python"
    stamp = venv / "installed.txt"
    if stamp.exists() and stamp.read_text() == "\n".join(HQ_ENVIRONMENT):
        return str(python)
    base = shutil.which("python3.11")
    if base is None:
        service_missing("python3.11 (for django-notifications-hq 1.8.3 on Django 4.2)")
    # Built beside the cache, then moved into place: an interrupted build is never used
    # (the venv is only run as `bin/python -m …`, which a move does not break).
    building = venv.with_name(venv.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    try:
        subprocess.run([base, "-m", "venv", str(building)], check=True)
        subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet", *HQ_ENVIRONMENT],
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        service_missing(f"django-notifications-hq 1.8.3's environment from the registry ({exc})")
    shutil.rmtree(venv, ignore_errors=True)
    building.rename(venv)
    stamp.write_text("\n".join(HQ_ENVIRONMENT))
    return str(python)


def _run(python: str, script: str, db: str, *, livebell: bool, args: tuple[str, ...] = ()) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WITH_LIVEBELL")}
    env.update(DJANGO_SETTINGS_MODULE="settings", PYTHONPATH=str(SCRIPTS), HQ_DB=str(db))
    if livebell:
        env["WITH_LIVEBELL"] = "1"
    done = subprocess.run(
        [python, "-W", "ignore", *((script,) if script.endswith(".py") else ("-m", script)), *args],
        cwd=SCRIPTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases on one backend: one for hq to make, one for a fresh migrate."""
    if request.param == "sqlite":
        yield str(tmp_path / "hq.sqlite3"), str(tmp_path / "fresh.sqlite3")
        return
    host, port, base = SERVERS[request.param]
    if not tcp_reachable(host, port):
        service_missing(f"{request.param} at {host}:{port}")
    names = [f"hq_db_test_{os.getpid()}_{n}" for n in ("made", "fresh")]
    for name in names:
        _server(request.param, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    yield base + names[0], base + names[1]
    for name in names:
        _server(request.param, f"DROP DATABASE IF EXISTS {name}")


def _server(vendor: str, *statements: str) -> None:
    """Run statements on the server (livebell's environment has both drivers)."""
    if vendor == "postgresql":
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
            for statement in statements:
                c.execute(statement)  # type: ignore[arg-type]
    else:
        import MySQLdb

        connection = MySQLdb.connect(host="127.0.0.1", user="root")
        try:
            for statement in statements:
                connection.cursor().execute(statement)
        finally:
            connection.close()


def test_hq_database_migrates_and_reads_back_identically(
    hq_python: str, databases: tuple[str, str]
) -> None:
    made, fresh = databases
    _run(hq_python, "make_data.py", made, livebell=False)
    before = json.loads(_run(hq_python, "dump.py", made, livebell=False))
    assert len(before["rows"]) == 9

    # hq's 0001-0009 here produce hq's very table: columns, indexes, constraints.
    hq_schema = json.loads(_run(sys.executable, "schema.py", made, livebell=False))
    _run(sys.executable, "django", fresh, livebell=True, args=("migrate", "notifications", "0009"))
    assert json.loads(_run(sys.executable, "schema.py", fresh, livebell=False)) == hq_schema

    # The database hq made is at 0009 already: migrate runs 0010 and livebell's own.
    out = _run(sys.executable, "django", made, livebell=True, args=("migrate", "-v", "1"))
    applied = [line.split()[1] for line in out.splitlines() if line.strip().startswith("Applying")]
    assert "notifications.0010_livebell..." in applied
    assert not [name for name in applied if name.startswith("notifications.000")]
    after = json.loads(_run(sys.executable, "dump.py", made, livebell=True))
    assert after == before

    # hq's (recipient, unread) index is still there, under its new name.
    constraints = json.loads(_run(sys.executable, "schema.py", made, livebell=False))["constraints"]
    assert constraints["notification_rcpt_unread"]["columns"] == ["recipient_id", "unread"]
