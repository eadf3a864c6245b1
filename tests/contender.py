"""A sender process for the contention tests: ``python -m tests.contender MODE USER VERB [HOLD]``.

``hold``: inside ``transaction.atomic()``, notify USER, print the row's id, then keep
the transaction (and its locks) open for HOLD seconds before committing.
``send``: print ``ready`` once set up, wait for the line ``go`` on stdin, then notify
USER in its own transaction and print the id and how long the call took (so the
process's start-up, slow on a busy machine, is not part of the schedule).
``like``: ``python -m tests.contender like USER ACTOR POST_ID HOLD``: inside a
transaction, ACTOR likes post POST_ID of USER (type ``post.liked``, which groups),
prints the row, and holds the transaction HOLD seconds.
``churn``: ``python -m tests.contender churn USERS SEED COUNT``: COUNT random writes
(notify, mark read/unread/all, delete) to the comma-separated USERS' inboxes.
``mute``: ``python -m tests.contender mute USER FIRST COUNT``: COUNT threads, each with
its own database connection, mute posts FIRST, FIRST+1, … for USER at once: each
waits until the line ``go`` arrives on stdin (after this prints ``ready``).

Each prints one JSON line per event, flushed, so the test can follow the schedule.
"""

from __future__ import annotations

import json
import sys
import time


def churn(usernames: str, seed: str, count: str) -> None:
    """Random writes to a few inboxes, as fast as they go; prints a JSON summary."""
    import random

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from livebell import inbox, notify
    from livebell.models import Notification

    rng = random.Random(int(seed))
    users = list(get_user_model().objects.filter(username__in=usernames.split(",")))
    newest: dict[str, int] = {}
    for _ in range(int(count)):
        user = rng.choice(users)
        ids = list(Notification.objects.order_by("-pk").values_list("pk", flat=True)[:30])
        kind = rng.choice(["notify", "notify", "mark_read", "mark_unread", "delete", "all"])
        if kind == "notify":
            for row in notify(rng.sample(users, rng.randint(1, len(users))), "churn"):
                name = next(u.username for u in users if u.pk == row.recipient_id)
                newest[name] = max(newest.get(name, 0), row.pk)
        elif kind == "all":
            inbox.mark_all_read(user, before_id=rng.choice(ids) if ids else None)
        else:
            getattr(inbox, kind)(user, rng.sample(ids, min(3, len(ids))))
    print(json.dumps({"writes": int(count), "newest": newest}), flush=True)


def mute(username: str, first: str, count: str) -> None:
    """Many threads mute distinct posts for one user at the same moment."""
    import threading

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from livebell import mutes
    from tests.testapp.models import Post

    user = get_user_model().objects.get(username=username)
    content_type = ContentType.objects.get_for_model(Post)
    go = threading.Event()
    outcomes: list[str] = []

    def one(object_id: str) -> None:
        try:
            go.wait()
            mutes.mute_key(user, content_type, object_id)
            outcomes.append("muted")
        except mutes.MuteError:
            outcomes.append("refused")
        except Exception as exc:  # reported to the test, which fails on it
            outcomes.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(str(int(first) + i),)) for i in range(int(count))]
    for thread in threads:
        thread.start()
    print(json.dumps({"ready": True}), flush=True)
    assert sys.stdin.readline().strip() == "go"
    go.set()
    for thread in threads:
        thread.join()
    print(json.dumps({"outcomes": outcomes}), flush=True)


def like(username: str, actor_name: str, post_id: str, hold: str) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from livebell import notify
    from tests.testapp.models import Post

    users = get_user_model().objects
    user, actor = users.get(username=username), users.get(username=actor_name)
    with transaction.atomic():
        [row] = notify(user, type="post.liked", actor=actor, target=Post.objects.get(pk=post_id))
        print(json.dumps({"stored": row.pk, "count": row.count}), flush=True)
        time.sleep(float(hold))
    print(json.dumps({"committed": row.pk}), flush=True)


def main(mode: str, *args: str) -> None:
    if mode == "churn":
        churn(*args)
        return
    if mode == "like":
        like(*args)
        return
    if mode == "mute":
        mute(*args)
        return
    username, verb, *rest = args
    hold = rest[0] if rest else "0"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from livebell import notify

    user = get_user_model().objects.get(username=username)
    started = time.monotonic()
    if mode == "hold":
        with transaction.atomic():
            [row] = notify(user, verb)
            print(json.dumps({"stored": row.pk}), flush=True)
            time.sleep(float(hold))
        print(json.dumps({"committed": row.pk}), flush=True)
    elif mode == "send":
        print(json.dumps({"ready": True}), flush=True)
        assert sys.stdin.readline().strip() == "go"
        started = time.monotonic()
        [row] = notify(user, verb)
        print(json.dumps({"committed": row.pk, "elapsed": time.monotonic() - started}), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
