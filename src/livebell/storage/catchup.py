"""Catching a socket up: what a client missed, from the database.

The database holds every notification, so it is the log a client catches up
from: the client says the newest id it has (``?last_id=`` on connect, or a
``resume`` frame), and the socket sends what came after, oldest first, then
``synced``. :func:`catch_up` does one socket, :func:`catch_up_many` several at
once in two queries, and :func:`acatch_up` is the form the socket uses: from the
event loop, batched with the catch-ups of sockets that connect at the same
moment (a reconnect storm costs two queries per batch, not two per socket).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.db.models.lookups import Lookup

from livebell._coalescer import Coalescer
from livebell.models import Notification
from livebell.payloads import NotificationPayload, notification_payload
from livebell.storage import state

__all__ = ["MAX_BATCH", "CatchUp", "acatch_up", "catch_up", "catch_up_many"]

# Sockets per batch. Each costs three query parameters; SQLite allows 999.
MAX_BATCH = 200


@dataclass(frozen=True)
class CatchUp:
    """What a socket must send to bring its client up to date."""

    #: The notifications the client missed, oldest first.
    notifications: list[NotificationPayload]
    #: The newest id the client has after this catch-up (0 when the user has none).
    last_id: int
    #: The user's unread count and inbox revision as of this catch-up.
    unread_count: int
    revision: int
    #: More than ``limit`` were missed; only the newest ``limit`` are included.
    truncated: bool


def catch_up(user_id: Any, after: int | None, *, limit: int) -> CatchUp:
    """The user's notifications with ``id > after``, oldest first, at most ``limit``.

    ``after=None`` (a connect without ``last_id``) loads no notification, only the
    newest id and the unread count. Two primary-key or index lookups whatever the
    size of the inbox (one when nothing is newer).
    """
    return catch_up_many([(user_id, after)], limit=limit)[0]


def catch_up_many(requests: Sequence[tuple[Any, int | None]], *, limit: int) -> list[CatchUp]:
    """:func:`catch_up` for several sockets at once, in two queries whatever their number.

    ``requests`` are ``(user_id, after)`` pairs (a user may appear more than once);
    the results are in the same order. First each user's state (newest id, unread
    count), then the rows between each socket's ``after`` and that newest id, at
    most ``limit + 1`` per user. A user's ids increase in commit order
    (:mod:`livebell.storage.state`), so every row up to the newest id read first is
    committed, and rows committed after it are above it: they are left to their
    live pushes, and what is sent always agrees with the count and ``last_id``
    that come with it. A socket whose ``after`` is older than the newest id that
    retention deleted for its user (``pruned_through``,
    :mod:`livebell.retention`) gets what is left with ``truncated``.
    """
    with_pruned = state.current_with_pruned(user_id for user_id, _ in requests)
    states = {user_id: found for user_id, (found, _) in with_pruned.items()}
    lowest_after: dict[Any, int] = {}
    for user_id, after in requests:
        if after is not None and after < states[user_id].last_id:
            lowest_after[user_id] = min(after, lowest_after.get(user_id, after))
    newest_first = _rows_after(lowest_after, states, limit)
    results = []
    for user_id, after in requests:
        found = states[user_id]
        newer = [] if after is None else [n for n in newest_first.get(user_id, ()) if n.pk > after]
        results.append(
            CatchUp(
                notifications=[notification_payload(n) for n in newer[:limit][::-1]],
                # The newest id, not the client's ``after``: a client claiming more
                # than exists must not hide the notifications still to come.
                last_id=found.last_id,
                unread_count=found.unread_count,
                revision=found.revision,
                # More missed than sent, or retention deleted some of what the client
                # missed (ids above its ``after``): refetch the list either way.
                truncated=len(newer) > limit
                or (after is not None and after < with_pruned[user_id][1]),
            )
        )
    return results


def _rows_after(
    lowest_after: dict[Any, int], states: dict[Any, state.RecipientState], limit: int
) -> dict[Any, list[Notification]]:
    """Each user's rows in ``(after, last_id]``, newest first, at most ``limit + 1``."""
    if not lowest_after:
        return {}
    if len(lowest_after) == 1:
        [(user_id, after)] = lowest_after.items()
        rows = (
            Notification.objects.for_user(user_id)
            .with_related()
            .filter(pk__gt=after, pk__lte=states[user_id].last_id)
            .order_by("-pk")[: limit + 1]
        )
        return {user_id: list(rows)}
    using = router.db_for_read(Notification)
    ranked = (
        Notification.objects.using(using)
        .filter(_windows(lowest_after, states, connections[using]))
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
    newest_first: dict[Any, list[Notification]] = {user_id: [] for user_id in lowest_after}
    for row in ranked:
        newest_first[row.recipient_id].append(row)
    return newest_first


def _windows(
    lowest_after: dict[Any, int], states: dict[Any, state.RecipientState], connection: Any
) -> _Condition:
    """``recipient_id = u AND id > after AND id <= last_id`` for each user, OR-ed.

    Written out rather than as one ``Q`` per user: Django resolves each lookup of
    each ``Q``, which made building the query of a batch of 100 sockets cost seven
    times as much as this.
    """
    quote = connection.ops.quote_name
    table = quote(Notification._meta.db_table)
    recipient_field = Notification._meta.get_field("recipient")
    recipient = f"{table}.{quote(recipient_field.column)}"
    pk = f"{table}.{quote(Notification._meta.pk.column)}"
    one = f"({recipient} = %s AND {pk} > %s AND {pk} <= %s)"
    params: list[Any] = []
    for user_id, after in lowest_after.items():
        db_user_id = recipient_field.get_db_prep_value(user_id, connection)
        params += [db_user_id, after, states[user_id].last_id]
    condition = " OR ".join([one] * len(lowest_after))
    return _Condition(RawSQL(condition, params, output_field=models.BooleanField()))


class _Condition(Lookup):
    """A raw SQL condition that every backend puts in ``WHERE`` as it is.

    ``filter(RawSQL(...))`` alone becomes ``WHERE (...) = 1`` on MySQL/MariaDB before
    Django 6.1 (the backend trusts only lookups and ``EXISTS`` there), and that
    comparison hides the ranges from the optimizer: the catch-up read the whole
    table instead of each user's index range. A lookup is taken as it is.
    """

    lookup_name = "livebell_condition"
    prepare_rhs = False

    def __init__(self, condition: RawSQL) -> None:
        super().__init__(condition, True)

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return compiler.compile(self.lhs)


_Request = tuple[Any, int | None, int]


def _run_batch(batch: Sequence[_Request]) -> list[CatchUp]:
    results: dict[int, CatchUp] = {}
    for limit in {request[2] for request in batch}:
        same = [(i, request) for i, request in enumerate(batch) if request[2] == limit]
        found = catch_up_many([(user_id, after) for _, (user_id, after, _) in same], limit=limit)
        results.update((i, result) for (i, _), result in zip(same, found, strict=True))
    return [results[i] for i in range(len(batch))]


_catch_ups: Coalescer[_Request, CatchUp] = Coalescer(_run_batch, max_batch=MAX_BATCH)


async def acatch_up(user_id: Any, after: int | None, *, limit: int) -> CatchUp:
    """:func:`catch_up` from the event loop, batched with concurrent callers."""
    return await _catch_ups((user_id, after, limit))
