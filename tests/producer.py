"""A producer process for the fault tests: ``python -m tests.producer USERS COUNT INTERVAL``.

Calls notify() COUNT times, round-robin over the comma-separated USERS, sleeping
INTERVAL seconds between calls; prints a JSON summary as its last line. With a
fourth argument ``together``, each call notifies all USERS at once (one fan-out
message) instead.
"""

from __future__ import annotations

import json
import sys
import time


def main(usernames: str, count: str, interval: str, mode: str = "each") -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from livebell import notify
    from livebell.layer import delivery

    users = list(get_user_model().objects.filter(username__in=usernames.split(",")))
    created = []
    for i in range(int(count)):
        recipients = users if mode == "together" else users[i % len(users)]
        created.extend(n.pk for n in notify(recipients, f"produced {i}"))
        time.sleep(float(interval))
    print(json.dumps({"created": created, "push_failures": delivery.stats.failed}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
