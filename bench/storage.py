"""``python -m bench.storage``: what an inbox costs in the database.

On PostgreSQL by default; ``DATABASE_URL`` names another of the bench's databases
(``mysql://root@127.0.0.1:3306/livebell_bench``, ``sqlite:////tmp/livebell_bench.sqlite3``)
to measure livebell on MySQL/MariaDB or SQLite.

The storage path alone (no server, no socket), each figure the median of several
runs in the bench's own database (``livebell_bench``), for livebell or for a peer
that stores rows (``--project community``: django-notifications-community, run in
the peers' interpreter, ``.venv-bench-peers/bin/python -m bench.storage``):

- notifying 1,000 and 10,000 users in one call (livebell's ``notify()``, the
  peer's ``notify`` signal), its transaction and commit;
- mark-all-read for a user with 100,000 unread notifications;
- the unread count of a user with 100,000 notifications, through the project's
  own HTTP endpoint (livebell's ``GET unread-count/``, the peer's
  ``api/unread_count/``): what a bell asks for on every page load.

Rows for the large inbox are written with ``bulk_create`` (100,000 calls would
take minutes); livebell's counters are then rebuilt from them with
``manage.py livebell_rebuild_state``, the command for rows written outside its API.
``make bench`` runs this as its ``storage`` workload (``--json``) and prints the
figures beside each other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from bench import fixtures
from bench.targets import PROJECTS, REPO

__all__ = ["CommunityInbox", "Inbox", "LivebellInbox", "main", "measure", "metric_names"]

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/livebell_bench"
VERB = "bench"
# How many notifications a call marks read or unread, or deletes: a page of the inbox.
CHANGED = 100


def metric_names(recipients: Sequence[int], rows: int) -> list[str]:
    """The figures :func:`measure` returns, in order."""
    return [
        *(f"notify {n:,} users in one call" for n in recipients),
        f"mark-all-read, {rows:,} unread",
        f"unread count over HTTP, {rows:,} rows",
        f"mark {CHANGED} read, of {rows:,}",
        f"mark {CHANGED} unread, of {rows:,}",
        f"delete {CHANGED}, of {rows:,}",
    ]


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


class Inbox:
    """One project's way of storing, counting and marking read, as its users call it."""

    # The project's unread-count endpoint, and where its JSON has the count.
    count_url: str
    count_key: str

    def empty(self) -> None:
        """Delete every notification (and counter) of the project."""
        raise NotImplementedError

    def notify(self, recipients: Any) -> None:
        raise NotImplementedError

    def fill(self, reader: Any, rows: int) -> None:
        """Give ``reader`` ``rows`` unread notifications, in bulk."""
        raise NotImplementedError

    def mark_all_read(self, reader: Any) -> None:
        raise NotImplementedError

    def all_unread(self, reader: Any) -> None:
        """Make every notification of ``reader`` unread again (between runs)."""
        raise NotImplementedError

    def newest_ids(self, reader: Any, count: int) -> list[int]:
        """The ids of ``reader``'s ``count`` newest notifications, newest first."""
        raise NotImplementedError

    def mark_read(self, reader: Any, ids: list[int]) -> None:
        raise NotImplementedError

    def mark_unread(self, reader: Any, ids: list[int]) -> None:
        raise NotImplementedError

    def delete(self, reader: Any, ids: list[int]) -> None:
        raise NotImplementedError


class LivebellInbox(Inbox):
    """``livebell.notify()``, ``livebell.inbox``, and the REST API's unread count."""

    count_url = "/api/notifications/unread-count/"
    count_key = "count"

    def empty(self) -> None:
        from django.db import connection

        from livebell.models import InboxState, Notification

        tables = [connection.ops.quote_name(m._meta.db_table) for m in (Notification, InboxState)]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {', '.join(tables)}")
            else:
                for table in tables:
                    cursor.execute(f"DELETE FROM {table}")

    def notify(self, recipients: Any) -> None:
        from livebell import notify

        notify(recipients, VERB)

    def fill(self, reader: Any, rows: int) -> None:
        from django.core.management import call_command
        from django.db import connection

        from livebell.models import Notification

        template = Notification(recipient=reader, verb="bulk")
        Notification.objects.bulk_create(
            [
                Notification(
                    recipient_id=reader.pk, verb=f"bulk {i}", created_at=template.created_at
                )
                for i in range(rows)
            ],
            batch_size=5000,
        )
        call_command("livebell_rebuild_state", verbosity=0)
        analyze = {
            "postgresql": "VACUUM ANALYZE livebell_notification",
            "mysql": "ANALYZE TABLE livebell_notification",
        }.get(connection.vendor, "ANALYZE livebell_notification")
        with connection.cursor() as cursor:
            cursor.execute(analyze)
            if connection.vendor == "mysql":
                cursor.fetchall()  # ANALYZE TABLE answers with a result set

    def mark_all_read(self, reader: Any) -> None:
        from livebell import inbox

        inbox.mark_all_read(reader)

    def all_unread(self, reader: Any) -> None:
        # Through livebell's API, so its counters stay exact.
        from livebell import inbox
        from livebell.models import Notification

        mine = Notification.objects.filter(recipient=reader)
        ids = list(mine.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), 1000):  # the most ids one call may name
            inbox.mark_unread(reader, ids[start : start + 1000])

    def newest_ids(self, reader: Any, count: int) -> list[int]:
        from livebell.models import Notification

        mine = Notification.objects.filter(recipient=reader).order_by("-pk")
        return list(mine.values_list("pk", flat=True)[:count])

    def mark_read(self, reader: Any, ids: list[int]) -> None:
        from livebell import inbox

        inbox.mark_read(reader, ids)

    def mark_unread(self, reader: Any, ids: list[int]) -> None:
        from livebell import inbox

        inbox.mark_unread(reader, ids)

    def delete(self, reader: Any, ids: list[int]) -> None:
        from livebell import inbox

        inbox.delete(reader, ids)


class CommunityInbox(Inbox):
    """django-notifications-community: its ``notify`` signal (one ``bulk_create``), its
    QuerySet's ``mark_all_as_read()`` and its JSON ``api/unread_count/`` view."""

    count_url = "/inbox/notifications/api/unread_count/"
    count_key = "unread_count"

    def empty(self) -> None:
        from django.db import connection

        from notifications.models import Notification

        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {connection.ops.quote_name(Notification._meta.db_table)}")

    def _actor(self) -> Any:
        from django.contrib.auth import get_user_model

        return get_user_model().objects.order_by("pk").first()

    def notify(self, recipients: Any) -> None:
        from notifications.signals import notify

        notify.send(self._actor(), recipient=recipients, verb=VERB)

    def fill(self, reader: Any, rows: int) -> None:
        from django.contrib.contenttypes.models import ContentType
        from django.db import connection
        from django.utils import timezone

        from notifications.models import Notification

        actor = ContentType.objects.get_for_model(reader)
        now = timezone.now()
        Notification.objects.bulk_create(
            [
                Notification(
                    recipient=reader,
                    actor_content_type=actor,
                    actor_object_id=str(reader.pk),
                    verb=f"bulk {i}",
                    timestamp=now,
                )
                for i in range(rows)
            ],
            batch_size=5000,
        )
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {Notification._meta.db_table}")

    def mark_all_read(self, reader: Any) -> None:
        reader.notifications.mark_all_as_read()

    def all_unread(self, reader: Any) -> None:
        reader.notifications.mark_all_as_unread()

    def newest_ids(self, reader: Any, count: int) -> list[int]:
        mine = reader.notifications.order_by("-pk")
        return list(mine.values_list("pk", flat=True)[:count])

    def mark_read(self, reader: Any, ids: list[int]) -> None:
        reader.notifications.filter(pk__in=ids).mark_all_as_read()

    def mark_unread(self, reader: Any, ids: list[int]) -> None:
        reader.notifications.filter(pk__in=ids).mark_all_as_unread()

    def delete(self, reader: Any, ids: list[int]) -> None:
        reader.notifications.filter(pk__in=ids).delete()


INBOXES: dict[str, type[Inbox]] = {"livebell": LivebellInbox, "community": CommunityInbox}


def measure(
    inbox: Inbox, recipients: Sequence[int] = (1000, 10_000), rows: int = 100_000, runs: int = 5
) -> dict[str, float]:
    """Run every measurement on ``inbox``; milliseconds by name (:func:`metric_names`)."""
    from django.test import Client

    names = iter(metric_names(recipients, rows))
    users = fixtures.make_users(max(recipients) + 1)
    reader, others = users[0], users[1:]
    inbox.empty()
    results: dict[str, float] = {}

    inbox.notify(others[:10])  # warm-up: imports, content types, prepared plans
    for n in recipients:
        # Fewer runs for the big ones: each stores n rows.
        times = runs if n <= 1000 else (runs + 1) // 2
        results[next(names)] = timed(lambda chosen=others[:n]: inbox.notify(chosen), times)
    inbox.empty()

    inbox.fill(reader, rows)
    results[next(names)] = timed(
        lambda: inbox.mark_all_read(reader),
        max(1, runs // 2),
        between=lambda: inbox.all_unread(reader),
    )
    inbox.all_unread(reader)

    client = Client()
    client.force_login(reader)
    response = client.get(inbox.count_url)
    counted = response.json()[inbox.count_key]
    if counted != rows:
        raise RuntimeError(f"{inbox.count_url} said {counted}, not {rows}: {response.content!r}")
    results[next(names)] = timed(lambda: client.get(inbox.count_url), runs * 4)

    # A page of the newest, read and unread in turn; then pages of them deleted.
    newest = inbox.newest_ids(reader, CHANGED * (runs * 2 + 1))
    page = newest[:CHANGED]
    results[next(names)] = timed(
        lambda: inbox.mark_read(reader, page),
        runs * 2,
        between=lambda: inbox.mark_unread(reader, page),
    )
    results[next(names)] = timed(
        lambda: inbox.mark_unread(reader, page),
        runs * 2,
        between=lambda: inbox.mark_read(reader, page),
    )
    pages = iter(range(CHANGED, len(newest), CHANGED))
    results[next(names)] = timed(
        lambda: inbox.delete(reader, newest[(start := next(pages)) : start + CHANGED]), runs * 2
    )
    inbox.empty()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument("--project", choices=sorted(INBOXES), default="livebell")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--recipients",
        default="1000,10000",
        help="comma-separated sizes of the notify() calls (default: 1000,10000)",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="the large inbox's rows")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the bench)")
    args = parser.parse_args(argv)
    recipients = [int(n) for n in args.recipients.split(",") if n]
    os.environ.setdefault("DATABASE_URL", DATABASE_URL)
    fixtures.ensure_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", PROJECTS[args.project].settings)
    os.environ.setdefault("DJANGO_DEBUG", "0")
    sys.path.insert(0, str(REPO / "demo"))  # the demo's settings and URLs (livebell)
    sys.path.insert(0, str(REPO))
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    schema = getattr(settings, "BENCH_SCHEMA", None)
    if schema:
        fixtures.ensure_schema(os.environ["DATABASE_URL"], schema)
    call_command("migrate", interactive=False, verbosity=0)
    results = measure(INBOXES[args.project](), recipients, args.rows, args.runs)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps({"results": results}) + b"\n")
        return
    for name, milliseconds in results.items():
        print(f"{name:40} {milliseconds:9.1f} ms")


if __name__ == "__main__":
    main()
