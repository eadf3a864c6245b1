"""An email sweeper for the contention test: ``python -m tests.digester LOCKING``.

Registers the emailing type ``post.answered`` (15 minutes), prints ``ready``, waits for
the line ``go`` on stdin, then runs the sweep an hour ahead, as ``manage.py
livebell_send_digests`` does, and prints the ids each email listed (locmem backend),
one JSON line. The two sweepers' first claims wait for each other once they hold
their rows (a barrier of files in ``LIVEBELL_TEST_BARRIER``), and each claim holds its
locks a little longer than it would, so that the two overlap. ``LOCKING`` ``off``
claims with a plain read instead (no ``SELECT … FOR UPDATE SKIP LOCKED``, no check
that the user's rows are all held): the test shows that it then sends mail twice.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def main(locking: str) -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.core import mail
    from django.db import connection
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from livebell import types
    from livebell.reach import email

    types.register(
        "post.answered", template="{actor} answered “{target}”", email_after=timedelta(minutes=15)
    )
    if hasattr(mail, "mailers"):  # Django 6.1: MAILERS replaces EMAIL_BACKEND
        from django.conf import settings

        settings.MAILERS = {"default": {}}
    setup_test_environment()  # mail goes to mail.outbox (locmem), on every Django
    hold = email._hold
    barrier = Path(os.environ["LIVEBELL_TEST_BARRIER"])
    first = [True]

    def slow_hold(pending: Any, users: list[Any], using: str) -> Any:
        if locking == "on":
            held = hold(pending, users, using)
        else:  # the same claim without its lock: a plain read
            ids = defaultdict(list)
            for pk, user in pending.filter(user_id__in=users).values_list("pk", "user_id"):
                ids[user].append(pk)
            held = {user: (pks, 0) for user, pks in ids.items()}
        # SQLite has one writer: the other sweeper waits for this one's commit, and
        # would never reach the barrier.
        if first[0] and connection.vendor != "sqlite":
            # Both sweepers' first claims have read (or locked) before either goes on
            # to delete and send: the moment the locking is there for, every run.
            first[0] = False
            (barrier / str(os.getpid())).touch()
            deadline = time.monotonic() + 20
            while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.05)  # inside the claim's transaction: the other sweeper runs meanwhile
        return held

    email._hold = slow_hold  # type: ignore[assignment]
    print(json.dumps({"ready": True}), flush=True)
    assert sys.stdin.readline().strip() == "go"
    sent = email.send_due(timezone.now() + timedelta(hours=1))
    emailed = [message.extra_headers[email.HEADER] for message in mail.outbox]
    print(json.dumps({"sent": sent, "emailed": emailed}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
