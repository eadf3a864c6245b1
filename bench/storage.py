"""``python -m bench.storage``: what the inbox costs in the database, on PostgreSQL.

Three measurements of the storage path alone (no server, no socket), each the
median of several runs in the bench's own database (``livebell_bench``):

- ``notify()`` to 1,000 users (one call, its transaction and commit);
- mark-all-read for a user with 100,000 unread notifications;
- the unread count of a user with 100,000 notifications, through the REST API's
  ``GET unread-count/`` (what a bell asks for on every page load).

Rows for the large inbox are written with ``bulk_create`` (100,000 ``notify()``
calls would take minutes), then livebell's counters are rebuilt from them with
``manage.py livebell_rebuild_state``, the command for rows written outside its API.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import fixtures
from bench.targets import REPO

__all__ = ["main", "measure"]

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/livebell_bench"


def timed(action: Callable[[], Any], runs: int, between: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``action`` over ``runs`` runs, in milliseconds."""
    samples = []
    for _ in range(runs):
        if between is not None:
            between()
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(runs: int = 5) -> dict[str, float]:
    """Run the three measurements; milliseconds by name."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command, get_commands
    from django.db import connection
    from django.test import Client

    from livebell import inbox, notify
    from livebell.models import Notification

    try:  # since the inbox state rows (issue 9); absent from earlier versions
        from livebell.models import InboxState

        models = [Notification, InboxState]
    except ImportError:
        models = [Notification]

    user_model = get_user_model()
    users = [user_id for user_id, _ in fixtures.make_users_and_sessions(1001)]
    recipients = list(user_model.objects.filter(pk__in=users[1:]))
    reader = user_model.objects.get(pk=users[0])
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")
    results: dict[str, float] = {}

    notify(recipients, "warm-up")
    results["notify() to 1,000 users"] = timed(lambda: notify(recipients, "hello"), runs)

    template = Notification(recipient=reader, verb="bulk")
    rows = [
        Notification(recipient_id=reader.pk, verb=f"bulk {i}", created_at=template.created_at)
        for i in range(100_000)
    ]
    Notification.objects.bulk_create(rows, batch_size=5000)
    if "livebell_rebuild_state" in get_commands():
        call_command("livebell_rebuild_state", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE livebell_notification")

    def all_unread() -> None:
        # Through livebell's API, so its counters stay exact: all 100,000 unread again.
        mine = Notification.objects.filter(recipient=reader)
        ids = list(mine.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), 1000):  # the most ids one call may name
            inbox.mark_unread(reader, ids[start : start + 1000])

    results["mark-all-read, 100,000 unread"] = timed(
        lambda: inbox.mark_all_read(reader), max(1, runs // 2), between=all_unread
    )
    all_unread()

    client = Client()
    client.force_login(reader)
    response = client.get("/api/notifications/unread-count/")
    assert response.json()["count"] == 100_000, response.content
    results["unread count, 100,000 rows (REST)"] = timed(
        lambda: client.get("/api/notifications/unread-count/"), runs * 4
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("DATABASE_URL", DATABASE_URL)
    fixtures.ensure_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    sys.path.insert(0, str(REPO / "demo"))  # the demo's settings and URLs
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    for name, milliseconds in measure(args.runs).items():
        print(f"{name:40} {milliseconds:9.1f} ms")


if __name__ == "__main__":
    main()
