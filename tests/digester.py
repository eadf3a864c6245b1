"""An email sweeper for the contention test: ``python -m tests.digester LOCKING``.

Registers the emailing type ``post.answered`` (15 minutes), prints ``ready``, waits for
the line ``go`` on stdin, then runs the sweep an hour ahead, as ``manage.py
livebell_send_digests`` does, and prints the ids each email listed (locmem backend),
one JSON line. Each claim holds its locks a little longer than it would, so that two
sweepers started together overlap. ``LOCKING`` ``off`` claims with a plain read instead
of ``SELECT … FOR UPDATE SKIP LOCKED``: the test shows that it then sends mail twice.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main(locking: str) -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.core import mail
    from django.utils import timezone

    from livebell import types
    from livebell.reach import email

    types.register(
        "post.answered", template="{actor} answered “{target}”", email_after=timedelta(minutes=15)
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    locked = email._lock

    def slow_lock(rows: Any, using: str) -> Any:
        held = locked(rows, using) if locking == "on" else list(rows.values_list("pk", "user_id"))
        time.sleep(0.2)  # inside the claim's transaction: the other sweeper runs meanwhile
        return held

    email._lock = slow_lock  # type: ignore[assignment]
    print(json.dumps({"ready": True}), flush=True)
    assert sys.stdin.readline().strip() == "go"
    sent = email.send_due(timezone.now() + timedelta(hours=1))
    emailed = [message.extra_headers[email.HEADER] for message in mail.outbox]
    print(json.dumps({"sent": sent, "emailed": emailed}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
