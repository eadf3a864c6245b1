"""Retention: deleting old notifications in short batches, every inbox kept exact.

:func:`prune` deletes the notifications created before a cutoff (only the read
ones with ``read_only``), ``batch`` rows at a time, oldest id first. Each batch is
its own short transaction that writes like every other livebell write
(:mod:`livebell.storage.state`): it locks the state rows of the batch's
recipients in user-id order, reads the rows again under those locks (a row
marked read or unread meanwhile is counted as it is now), deletes them and
writes each recipient's new state:

- ``unread_count`` goes down by the unread rows deleted, so it stays equal to a
  ``COUNT`` of the unread rows;
- ``revision`` moves, so a socket that sees it knows its list changed;
- ``last_id`` stays: ids are never reused, and a client's ``last_id`` stays valid;
- ``pruned_through`` rises to the newest id deleted. A client that resumes from an
  older id missed something that is now gone, and its catch-up says ``truncated``
  (:mod:`livebell.storage.catchup`): it refetches the list instead of trusting a
  gap-free replay that no longer exists.

After each batch commits, every open socket of a recipient gets one ``deleted``
event with the ids and the new unread count, as for a user's own delete. A
``notify()`` to the same users waits at most for one batch, never for the run.

The candidates are found by walking the primary key from the last batch on (no
index on ``created_at``: it would cost every ``notify()``), so a run reads the
table once. What a site runs — ``manage.py livebell_prune`` and the periodic task —
is in :mod:`livebell.retention`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from livebell import protocol
from livebell.layer import delivery
from livebell.layer.groups import user_group
from livebell.layer.messages import InboxChange
from livebell.models import Notification
from livebell.storage import state

__all__ = ["DEFAULT_BATCH", "PruneResult", "prune"]

#: Rows deleted per transaction unless told otherwise.
DEFAULT_BATCH = 5000


@dataclass(frozen=True)
class PruneResult:
    """What one :func:`prune` run did."""

    #: Notifications deleted.
    deleted: int
    #: Of those, how many were unread.
    unread: int
    #: Transactions it took (batches that deleted something).
    batches: int
    #: Users whose inbox changed (counted once per batch they were in).
    users: int


def prune(
    older_than: timedelta,
    *,
    read_only: bool = False,
    batch: int = DEFAULT_BATCH,
    now: datetime | None = None,
    using: str | None = None,
) -> PruneResult:
    """Delete the notifications created more than ``older_than`` before ``now``.

    Args:
        older_than: the age past which a notification goes.
        read_only: delete only read notifications (unread ones stay, however old).
        batch: rows per transaction: each batch holds its recipients' state rows
            only while it deletes its own rows.
        now: the moment the age is measured from (default: now).
        using: the database alias (default: the router's for writing notifications).

    Raises:
        ValueError: ``older_than`` not positive or ``batch`` below 1.
    """
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    using = using or router.db_for_write(Notification)
    cutoff = (now or timezone.now()) - older_than
    old = Notification.objects.using(using).filter(created_at__lt=cutoff).order_by("pk")
    if read_only:
        old = old.filter(read_at__isnull=False)
    deleted = unread = batches = users = 0
    after = 0
    while True:
        # Outside any transaction: a plain read that locks nothing. The batch reads
        # its rows again under the locks.
        candidates = list(old.filter(pk__gt=after).values_list("pk", "recipient_id")[:batch])
        if not candidates:
            break
        after = candidates[-1][0]
        done = _prune_batch(old, candidates, using)
        deleted, unread = deleted + done[0], unread + done[1]
        batches, users = batches + (done[0] > 0), users + done[2]
        if len(candidates) < batch:
            break
    return PruneResult(deleted=deleted, unread=unread, batches=batches, users=users)


def _prune_batch(
    old: Any, candidates: Sequence[tuple[int, Any]], using: str
) -> tuple[int, int, int]:
    """Delete ``candidates`` that still qualify, in one transaction; (rows, unread, users)."""
    first, last = candidates[0][0], candidates[-1][0]
    with transaction.atomic(using=using):
        before = state.lock({user_id for _, user_id in candidates}, using)
        # Every write to these users' rows holds their state lock, which this
        # transaction now has: what this reads stays true until it commits. Rows of
        # other users that entered the range meanwhile (marked read) wait for a later run.
        rows = [
            row
            for row in old.filter(pk__gte=first, pk__lte=last).values_list(
                "pk", "recipient_id", "read_at"
            )
            if row[1] in before
        ]
        if not rows:
            return 0, 0, 0
        ids_of: dict[Any, list[int]] = defaultdict(list)
        unread_of: dict[Any, int] = defaultdict(int)
        for pk, user_id, read_at in rows:
            ids_of[user_id].append(pk)
            unread_of[user_id] += read_at is None
        ids = [pk for pk, _, _ in rows]
        for chunk in _chunks(ids, _delete_chunk(using)):
            Notification.objects.using(using).filter(pk__in=chunk).delete()
        after = state.record_pruned(
            {user_id: before[user_id] for user_id in ids_of},
            {user_id: (unread_of[user_id], max(pks)) for user_id, pks in ids_of.items()},
            using,
        )
        events = [
            InboxChange(
                user_group(user_id),
                after[user_id].unread_count,
                after[user_id].revision,
                protocol.inbox_frame(
                    protocol.InboxEvent("deleted", pks), after[user_id].unread_count
                ),
            )
            for user_id, pks in ids_of.items()
        ]
        transaction.on_commit(lambda: delivery.send(events), using=using, robust=True)
    return len(ids), sum(unread_of.values()), len(ids_of)


def _delete_chunk(using: str) -> int:
    """Ids per ``DELETE … WHERE id IN (…)``: within the database's parameter limit."""
    limit = connections[using].features.max_query_params
    return state.LOCK_CHUNK if limit is None else min(state.LOCK_CHUNK, limit)


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
