"""Catching a socket up from the database: the replay behind ``last_id``.

The database holds every notification, so it is the replay log: a client that
was away sends the last id it has, and gets what came after, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from livebell.models import Notification
from livebell.payloads import NotificationPayload, notification_payload

__all__ = ["Catchup", "catch_up"]


@dataclass(frozen=True)
class Catchup:
    """What a socket must send to bring its client up to date."""

    notifications: list[NotificationPayload]
    #: The newest id the client has after this catch-up (0 when the user has none).
    last_id: int
    unread_count: int
    #: More than ``limit`` were missed; only the newest ``limit`` are included.
    truncated: bool


def catch_up(user_id: Any, after: int | None, *, limit: int) -> Catchup:
    """Load the user's notifications with ``id > after``, oldest first, at most ``limit``.

    ``after=None`` loads nothing and only reports the newest id and unread count.
    Costs two or three indexed queries whatever the size of the inbox.
    """
    mine = Notification.objects.for_user(user_id)
    rows: list[Notification] = []
    truncated = False
    if after is not None:
        newest_first = list(mine.with_related().filter(pk__gt=after).order_by("-pk")[: limit + 1])
        truncated = len(newest_first) > limit
        rows = newest_first[:limit][::-1]
    # Not the client's ``after`` when nothing is newer: a client claiming more than
    # exists must not hide future notifications (with no rows past it, newest <= it).
    last_id = rows[-1].pk if rows else mine.aggregate(newest=models.Max("pk"))["newest"] or 0
    return Catchup(
        notifications=[notification_payload(n) for n in rows],
        last_id=last_id,
        unread_count=mine.unread_count(),
        truncated=truncated,
    )
