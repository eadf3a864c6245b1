"""Catching a socket up from the database: the replay behind ``last_id``.

The database holds every notification, so it is the replay log: a client that
was away sends the last id it has, and gets what came after, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from livebell.models import Notification
from livebell.payloads import NotificationPayload, notification_payload
from livebell.querysets import newest_id_subquery, unread_count_subquery

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
    Costs one query on the indexes whatever the size of the inbox (two when
    ``after`` is given and nothing is newer).
    """
    rows: list[Notification] = []
    unread: int | None = None
    if after is not None:
        newest_first = list(
            Notification.objects.for_user(user_id)
            .with_related()
            .filter(pk__gt=after)
            # Uncorrelated (the user is a constant), so computed once per query.
            .annotate(livebell_unread=unread_count_subquery(models.Value(user_id)))
            .order_by("-pk")[: limit + 1]
        )
        rows = newest_first[:limit][::-1]
        if rows:
            unread = getattr(rows[-1], "livebell_unread", 0)
    if rows:
        last_id = rows[-1].pk
    else:
        # The newest id (<= after) rather than the client's ``after``: a client
        # claiming more than exists must not hide future notifications.
        last_id, unread = _newest_and_unread(user_id)
    return Catchup(
        notifications=[notification_payload(n) for n in rows],
        last_id=last_id,
        unread_count=unread or 0,
        truncated=after is not None and len(newest_first) > limit,
    )


def _newest_and_unread(user_id: Any) -> tuple[int, int]:
    """The user's newest notification id (0 if none) and unread count, in one query."""
    user = models.OuterRef("pk")
    found = (
        get_user_model()
        ._default_manager.filter(pk=user_id)
        .annotate(newest=newest_id_subquery(user), unread=unread_count_subquery(user))
        .values_list("newest", "unread")
        .first()
    )
    newest, unread = found or (None, None)
    return newest or 0, unread or 0
