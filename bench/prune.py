"""``python -m bench.prune``: retention on a large table, and what a writer feels of it.

On PostgreSQL, in a database of its own (``livebell_prune_bench`` on loopback, made
afresh each run): ``--users`` users and ``--rows`` notifications written in one
``INSERT … SELECT generate_series`` (90 % of them 100 to 200 days old, the rest
newer; every other one read), the counters then rebuilt with ``manage.py
livebell_rebuild_state``. Then:

1. a second process calls ``notify()`` to a random one of those users in a loop for
   a few seconds: the time of a ``notify()`` on a quiet table;
2. the same process does it again while this one runs
   ``livebell_prune --older-than 90d`` (the old 90 % go): the longest ``notify()``
   then bounds the longest lock wait a writer saw (every ``notify()`` to a user whose
   rows a batch is deleting waits for that batch's commit);
3. every user's state row is compared with a ``COUNT`` of their rows.

It prints one line per figure; docs/benchmarks.md ("Retention") has the results.
Timing goals are not checked here or in the tests: this reports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATABASE = "livebell_prune_bench"
SERVER_URL = "postgres://postgres@127.0.0.1:5432"
USER_PREFIX = "prune"


def _environment() -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{DATABASE}"
    os.environ.pop("REDIS_URL", None)  # the demo's in-memory layer: no socket listens
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    sys.path.insert(0, str(REPO / "demo"))
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _fill(users: int, rows: int) -> float:
    """The users and their rows; seconds it took (with the state rebuilt)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from livebell.models import Notification

    started = time.perf_counter()
    user_model = get_user_model()
    user_model.objects.bulk_create(
        [user_model(username=f"{USER_PREFIX}{i}", password="!") for i in range(users)]
    )
    ids = sorted(
        user_model.objects.filter(username__startswith=USER_PREFIX).values_list("pk", flat=True)
    )
    table = Notification._meta.db_table
    old = int(rows * 0.9)
    with connection.cursor() as cursor:
        # Row g is g-th oldest: the first 90 % spread over 200 to 100 days ago, the
        # rest over the last 80 days; users take turns, every other row is read.
        cursor.execute(
            f"""
            INSERT INTO {table} (recipient_id, verb, level, type, target_object_id,
                target_text, target_url, data, created_at, read_at, count, actors)
            SELECT (%s::bigint[])[1 + g %% %s], 'bench', 'info', '', '', '', '', '{{}}',
                CASE WHEN g < %s
                    THEN now() - interval '200 days' + g * (interval '100 days' / %s)
                    ELSE now() - interval '80 days' + (g - %s) * (interval '80 days' / %s)
                END,
                CASE WHEN g %% 2 = 0 THEN now() END, 1, '[]'
            FROM generate_series(0, %s - 1) AS g
            """,
            ["{" + ",".join(map(str, ids)) + "}", users, old, old, old, max(1, rows - old), rows],
        )
        cursor.execute(f"ANALYZE {table}")
    call_command("livebell_rebuild_state", verbosity=0)
    return time.perf_counter() - started


def _notifier(seconds: float) -> None:
    """The second process: notify() random bench users until told ``stop`` on stdin
    (or for ``seconds`` when positive); print each call's duration (ms) as JSON."""
    import selectors

    _environment()
    from django.contrib.auth import get_user_model

    from livebell import notify

    users = list(get_user_model().objects.filter(username__startswith=USER_PREFIX))
    rng = random.Random(27)
    durations: list[float] = []
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    print(json.dumps({"ready": True}), flush=True)
    started = time.monotonic()
    while True:
        if seconds > 0 and time.monotonic() - started > seconds:
            break
        if seconds <= 0 and selector.select(timeout=0):
            break
        before = time.perf_counter()
        notify(rng.choice(users), "during prune")
        durations.append((time.perf_counter() - before) * 1000)
        time.sleep(0.002)  # a steady writer, not a flood: the wait is what is measured
    print(json.dumps({"durations": durations}), flush=True)


def _start_notifier(seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.prune", "--notifier", str(seconds)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert json.loads(process.stdout.readline()) == {"ready": True}
    return process


def _durations(process: subprocess.Popen[str]) -> list[float]:
    assert process.stdout is not None and process.stdin is not None
    if process.poll() is None:
        try:
            process.stdin.write("stop\n")
            process.stdin.flush()
        except BrokenPipeError:
            pass
    found: list[float] = json.loads(process.stdout.readline())["durations"]
    process.wait(30)
    return found


def _summary(name: str, durations: list[float]) -> dict[str, Any]:
    ordered = sorted(durations)
    return {
        f"{name} calls": len(ordered),
        f"{name} median ms": round(statistics.median(ordered), 2),
        f"{name} p99 ms": round(ordered[int(len(ordered) * 0.99) - 1], 2),
        f"{name} max ms": round(ordered[-1], 2),
    }


def _mismatches() -> int:
    """Users whose state row disagrees with a COUNT of their rows."""
    from django.db import connection

    from livebell.models import InboxState, Notification

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FROM {InboxState._meta.db_table} AS s LEFT JOIN (
                SELECT recipient_id, count(*) FILTER (WHERE read_at IS NULL) AS unread,
                    max(id) AS newest
                FROM {Notification._meta.db_table} GROUP BY recipient_id
            ) AS c ON c.recipient_id = s.user_id
            WHERE s.unread_count <> coalesce(c.unread, 0) OR s.last_id < coalesce(c.newest, 0)
            """
        )
        return int(cursor.fetchone()[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.prune", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--quiet-seconds", type=float, default=5.0)
    parser.add_argument("--notifier", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.notifier is not None:
        _notifier(args.notifier)
        return
    _fresh_database()
    _environment()
    from django.core.management import call_command
    from django.db import connection

    from livebell.models import Notification

    call_command("migrate", interactive=False, verbosity=0)
    results: dict[str, Any] = {"rows": args.rows, "users": args.users, "batch": args.batch}
    results["fill s"] = round(_fill(args.users, args.rows), 1)
    connection.close()

    quiet = _start_notifier(args.quiet_seconds)
    results.update(_summary("notify() alone", _durations(quiet)))

    during = _start_notifier(0)
    started = time.perf_counter()
    call_command("livebell_prune", "--older-than", "90d", "--batch", str(args.batch))
    results["prune s"] = round(time.perf_counter() - started, 1)
    results.update(_summary("notify() during prune", _durations(during)))
    results["rows left"] = Notification.objects.count()
    results["state rows not equal to a COUNT"] = _mismatches()
    for name, value in results.items():
        print(f"{name:40} {value}")


if __name__ == "__main__":
    main()
