"""Changing a user's inbox — mark read, mark unread, delete — and telling their sockets.

The one owner of these changes: the socket, the REST API and the admin all come
here. Each function changes only the given user's own rows (ids of other users'
rows are ignored exactly like ids that do not exist), keeps the user's counters
exact (:mod:`livebell.storage.state`) and, after the transaction commits, sends one event
to every open socket of that user so other tabs update:
``{"type": "read" | "unread" | "deleted", "ids": [...], "unread_count": N}``.
A call that changes nothing sends nothing. Each has an async twin
(``amark_read`` …) for consumers and async views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.db import router, transaction
from django.utils import timezone

from livebell import protocol, signals
from livebell.ids import parse_id, parse_ids
from livebell.layer import delivery
from livebell.layer.groups import user_group
from livebell.layer.messages import InboxChange
from livebell.models import Notification
from livebell.storage import marking, state

__all__ = [
    "adelete",
    "amark_all_read",
    "amark_read",
    "amark_unread",
    "aunread_count",
    "delete",
    "mark_all_read",
    "mark_read",
    "mark_unread",
    "unread_count",
]


def unread_count(user: Any) -> int:
    """How many of the user's notifications are unread: one primary-key lookup.

    Args:
        user: a user instance or primary key.
    """
    user_id = getattr(user, "pk", user)
    return state.current([user_id])[user_id].unread_count


async def aunread_count(user: Any) -> int:
    """Async twin of :func:`unread_count`."""
    count: int = await database_sync_to_async(unread_count)(user)
    return count


def mark_read(user: Any, ids: Iterable[int]) -> list[int]:
    """Mark the user's notifications ``ids`` read; return the ids that changed, ascending.

    Args:
        user: a user instance or primary key.
        ids: notification ids; those not unread, not the user's or missing are ignored.

    Raises:
        livebell.ids.InvalidId: ``ids`` is not a list of at most 1000 positive integers.
    """
    return _apply(_read, user, parse_ids(ids))  # type: ignore[no-any-return]


def mark_unread(user: Any, ids: Iterable[int]) -> list[int]:
    """Mark the user's notifications ``ids`` unread; return the ids that changed.

    Raises:
        livebell.ids.InvalidId: as :func:`mark_read`.
    """
    return _apply(_unread, user, parse_ids(ids))  # type: ignore[no-any-return]


def mark_all_read(user: Any, *, before_id: int | None = None) -> int:
    """Mark all the user's unread notifications read, or those with ``id <= before_id``.

    ``before_id`` is the newest id the user has seen, so a click never marks read
    what arrived after the page rendered. Returns how many changed.

    Raises:
        livebell.ids.InvalidId: ``before_id`` is not None or a positive integer.
    """
    return _apply(_all_read, user, _before_id(before_id))  # type: ignore[no-any-return]


def delete(user: Any, ids: Iterable[int]) -> list[int]:
    """Delete the user's notifications ``ids``; return the ids deleted.

    Raises:
        livebell.ids.InvalidId: as :func:`mark_read`.
    """
    return _apply(_delete, user, parse_ids(ids))  # type: ignore[no-any-return]


async def amark_read(user: Any, ids: Iterable[int]) -> list[int]:
    """Async twin of :func:`mark_read`."""
    return await _aapply(_read, user, parse_ids(ids))  # type: ignore[no-any-return]


async def amark_unread(user: Any, ids: Iterable[int]) -> list[int]:
    """Async twin of :func:`mark_unread`."""
    return await _aapply(_unread, user, parse_ids(ids))  # type: ignore[no-any-return]


async def amark_all_read(user: Any, *, before_id: int | None = None) -> int:
    """Async twin of :func:`mark_all_read`."""
    return await _aapply(_all_read, user, _before_id(before_id))  # type: ignore[no-any-return]


async def adelete(user: Any, ids: Iterable[int]) -> list[int]:
    """Async twin of :func:`delete`."""
    return await _aapply(_delete, user, parse_ids(ids))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Change:
    """What one change did: its result for the caller, and the event for the sockets."""

    result: Any
    #: How many rows became unread (negative when they became read or were deleted unread).
    unread_delta: int
    #: What the sockets are told; None when nothing changed.
    event: protocol.InboxEvent | None


# Each change runs inside a transaction on ``using``, with the user's state locked,
# on arguments already validated.
_ChangeFn = Callable[[Any, Any, str], _Change]


def _before_id(before_id: object) -> int | None:
    return None if before_id is None else parse_id(before_id, name="before_id")


def _read(user_id: Any, ids: Any, using: str) -> _Change:
    mine = Notification.objects.using(using).for_user(user_id)
    changed = list(mine.unread().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    if not changed:
        return _Change(changed, 0, None)
    mine.filter(pk__in=changed).update(read_at=timezone.now())
    return _Change(changed, -len(changed), protocol.InboxEvent("read", changed))


def _unread(user_id: Any, ids: Any, using: str) -> _Change:
    mine = Notification.objects.using(using).for_user(user_id)
    changed = list(mine.read().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    if not changed:
        return _Change(changed, 0, None)
    mine.filter(pk__in=changed).update(read_at=None)
    return _Change(changed, len(changed), protocol.InboxEvent("unread", changed))


def _all_read(user_id: Any, before_id: Any, using: str) -> _Change:
    count = marking.mark_all_read(user_id, before_id, timezone.now(), using)
    if not count:
        return _Change(0, 0, None)
    return _Change(count, -count, protocol.InboxEvent("read", "all", before_id))


def _delete(user_id: Any, ids: Any, using: str) -> _Change:
    mine = Notification.objects.using(using).for_user(user_id)
    found = list(mine.filter(pk__in=ids).order_by("pk").values_list("pk", "read_at"))
    if not found:
        return _Change([], 0, None)
    gone = [pk for pk, _ in found]
    mine.filter(pk__in=gone).delete()
    unread = sum(1 for _, read_at in found if read_at is None)
    return _Change(gone, -unread, protocol.InboxEvent("deleted", gone))


def _change(change: _ChangeFn, user_id: Any, argument: Any) -> tuple[Any, list[InboxChange]]:
    """Run ``change`` under the user's state lock; its result and the event to send."""
    using = router.db_for_write(Notification)
    with transaction.atomic(using=using):
        before = state.lock([user_id], using)[user_id]
        done = change(user_id, argument, using)
        if done.event is None:
            return done.result, []
        after = state.record_change(user_id, before, done.unread_delta, using)
        event = done.event
        if event.type == "read":
            transaction.on_commit(
                lambda: signals.notifications_read.send(
                    sender=Notification,
                    user_id=user_id,
                    ids=event.ids,
                    before_id=event.before_id,
                ),
                using=using,
                robust=True,
            )
        elif event.type == "unread":
            transaction.on_commit(
                lambda: signals.notifications_unread.send(
                    sender=Notification, user_id=user_id, ids=event.ids
                ),
                using=using,
                robust=True,
            )
    frame = protocol.inbox_frame(done.event, after.unread_count)
    return done.result, [
        InboxChange(user_group(user_id), after.unread_count, after.revision, frame)
    ]


def _apply(change: _ChangeFn, user: Any, argument: Any) -> Any:
    user_id = getattr(user, "pk", user)
    result, events = _change(change, user_id, argument)
    if events:
        # Inside the caller's transaction, the event waits for its outermost commit.
        transaction.on_commit(
            lambda: delivery.send(events), using=router.db_for_write(Notification), robust=True
        )
    return result


async def _aapply(change: _ChangeFn, user: Any, argument: Any) -> Any:
    user_id = getattr(user, "pk", user)
    result, events = await database_sync_to_async(_change)(change, user_id, argument)
    await delivery.asend(events)
    return result
