"""Catching a socket up from the database: the replay behind ``last_id``.

The database holds every notification, so it is the replay log: a client that
was away sends the last id it has, and gets what came after, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.functions import RowNumber

from livebell.models import Notification
from livebell.payloads import NotificationPayload, notification_payload
from livebell.querysets import newest_id_subquery, unread_count_subquery

__all__ = ["Catchup", "catch_up", "catch_up_many"]


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


def catch_up_many(requests: Sequence[tuple[Any, int | None]], *, limit: int) -> list[Catchup]:
    """:func:`catch_up` for several sockets at once, in two queries whatever their number.

    ``requests`` are ``(user_id, after)`` pairs (a user may appear more than once);
    the results are in the same order. First each user's newest id and unread
    count, then the rows between each socket's ``after`` and that newest id, at
    most ``limit + 1`` per user. A user's ids increase in commit order
    (``notify()`` locks the user), so rows committed between the two queries are
    above the newest id read first: they are left to their live pushes, and what
    is replayed always agrees with the count and ``last_id`` that come with it.
    """
    user_ids = list(dict.fromkeys(user_id for user_id, _ in requests))
    states = _newest_and_unread_many(user_ids)
    lowest_after: dict[Any, int] = {}
    for user_id, after in requests:
        newest = states.get(user_id, (0, 0))[0]
        if after is not None and after < newest:
            lowest_after[user_id] = min(after, lowest_after.get(user_id, after))
    newest_first: dict[Any, list[Notification]] = {user_id: [] for user_id in lowest_after}
    if lowest_after:
        wanted = models.Q()
        for user_id, after in lowest_after.items():
            wanted |= models.Q(recipient_id=user_id, pk__gt=after, pk__lte=states[user_id][0])
        ranked = (
            Notification.objects.filter(wanted)
            .with_related()
            .annotate(
                livebell_rank=models.Window(
                    RowNumber(),
                    partition_by=[models.F("recipient_id")],
                    order_by=models.F("pk").desc(),
                )
            )
            .filter(livebell_rank__lte=limit + 1)
            .order_by("-pk")
        )
        for row in ranked:
            newest_first[row.recipient_id].append(row)
    results = []
    for user_id, after in requests:
        newest, unread = states.get(user_id, (0, 0))
        newer = [] if after is None else [n for n in newest_first.get(user_id, ()) if n.pk > after]
        results.append(
            Catchup(
                notifications=[notification_payload(n) for n in newer[:limit][::-1]],
                last_id=newest,
                unread_count=unread,
                truncated=len(newer) > limit,
            )
        )
    return results


def _newest_and_unread_many(user_ids: list[Any]) -> dict[Any, tuple[int, int]]:
    """Each user's newest notification id (0 if none) and unread count, in one query."""
    user = models.OuterRef("pk")
    found = (
        get_user_model()
        ._default_manager.filter(pk__in=user_ids)
        .annotate(newest=newest_id_subquery(user), unread=unread_count_subquery(user))
        .values_list("pk", "newest", "unread")
    )
    return {pk: (newest or 0, unread or 0) for pk, newest, unread in found}


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
