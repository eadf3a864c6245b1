"""Changing a user's inbox — mark read, mark unread, delete — and telling their sockets.

Each function changes only the given user's own rows (ids of other users' rows are
ignored exactly like ids that do not exist) and, after the transaction commits,
pushes one event to every open socket of that user, so other tabs update their
badge: ``{"type": "read" | "unread" | "deleted", "ids": [...], "unread_count": N}``.
Each has an async twin (``amark_read`` …) for consumers and async views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.db import router, transaction
from django.utils import timezone

from livebell import delivery
from livebell.models import MAX_ID, Notification

__all__ = [
    "MAX_IDS",
    "adelete",
    "amark_all_read",
    "amark_read",
    "amark_unread",
    "clean_ids",
    "delete",
    "mark_all_read",
    "mark_read",
    "mark_unread",
]

# Most ids one call may name; keeps one request's UPDATE bounded.
MAX_IDS = 1000


@dataclass(frozen=True)
class _Change:
    result: Any
    user_id: Any
    event: dict[str, Any]


def mark_read(user: Any, ids: Iterable[int]) -> list[int]:
    """Mark the user's notifications ``ids`` read; return the ids that changed.

    Args:
        user: a user instance or primary key.
        ids: notification ids; those not unread, not the user's or missing are ignored.

    Raises:
        TypeError, ValueError: ``ids`` is not a list of at most 1000 positive integers.
    """
    return _apply(_read, user, ids)  # type: ignore[no-any-return]


def mark_unread(user: Any, ids: Iterable[int]) -> list[int]:
    """Mark the user's notifications ``ids`` unread; return the ids that changed."""
    return _apply(_unread, user, ids)  # type: ignore[no-any-return]


def mark_all_read(user: Any, *, before_id: int | None = None) -> int:
    """Mark all the user's unread notifications read, or those with ``id <= before_id``.

    ``before_id`` is the newest id the user has seen, so a click never marks read
    what arrived after the page rendered. Returns how many changed.
    """
    return _apply(_all_read, user, before_id)  # type: ignore[no-any-return]


def delete(user: Any, ids: Iterable[int]) -> list[int]:
    """Delete the user's notifications ``ids``; return the ids deleted."""
    return _apply(_delete, user, ids)  # type: ignore[no-any-return]


async def amark_read(user: Any, ids: Iterable[int]) -> list[int]:
    """Async twin of :func:`mark_read`."""
    return await _aapply(_read, user, ids)  # type: ignore[no-any-return]


async def amark_unread(user: Any, ids: Iterable[int]) -> list[int]:
    """Async twin of :func:`mark_unread`."""
    return await _aapply(_unread, user, ids)  # type: ignore[no-any-return]


async def amark_all_read(user: Any, *, before_id: int | None = None) -> int:
    """Async twin of :func:`mark_all_read`."""
    return await _aapply(_all_read, user, before_id)  # type: ignore[no-any-return]


async def adelete(user: Any, ids: Iterable[int]) -> list[int]:
    """Async twin of :func:`delete`."""
    return await _aapply(_delete, user, ids)  # type: ignore[no-any-return]


def clean_ids(ids: object) -> list[int]:
    """Validate a list of notification ids.

    Raises:
        TypeError: not a list (or tuple/set) of integers.
        ValueError: more than :data:`MAX_IDS` ids, or an id below 1 or above ``MAX_ID``.
    """
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set, frozenset)):
        raise TypeError("ids must be a list of integers.")
    if len(ids) > MAX_IDS:
        raise ValueError(f"At most {MAX_IDS} ids per call, got {len(ids)}.")
    for value in ids:
        # bool is an int subclass; true is not an id.
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"ids must be integers, got {value!r}.")
        if not 1 <= value <= MAX_ID:
            raise ValueError(f"ids must be positive 64-bit integers, got {value}.")
    return sorted(set(ids))


def _clean_before_id(before_id: object) -> int | None:
    if before_id is None:
        return None
    if not isinstance(before_id, int) or isinstance(before_id, bool):
        raise TypeError(f"before_id must be an integer or null, got {before_id!r}.")
    return min(before_id, MAX_ID)


# Each change runs inside a transaction on ``using`` and says what to push.
_ChangeFn = Callable[[Any, Any, str], _Change]


def _read(user_id: Any, ids: Any, using: str) -> _Change:
    mine = Notification.objects.using(using).for_user(user_id)
    changed = list(
        mine.unread().filter(pk__in=clean_ids(ids)).order_by("pk").values_list("pk", flat=True)
    )
    mine.filter(pk__in=changed).update(read_at=timezone.now())
    return _Change(changed, user_id, {"type": "read", "ids": changed})


def _unread(user_id: Any, ids: Any, using: str) -> _Change:
    mine = Notification.objects.using(using).for_user(user_id)
    changed = list(
        mine.read().filter(pk__in=clean_ids(ids)).order_by("pk").values_list("pk", flat=True)
    )
    mine.filter(pk__in=changed).update(read_at=None)
    return _Change(changed, user_id, {"type": "unread", "ids": changed})


def _all_read(user_id: Any, before_id: Any, using: str) -> _Change:
    before_id = _clean_before_id(before_id)
    count = Notification.objects.using(using).for_user(user_id).mark_all_read(before_id)
    return _Change(count, user_id, {"type": "read", "ids": "all", "before_id": before_id})


def _delete(user_id: Any, ids: Any, using: str) -> _Change:
    mine = Notification.objects.using(using).for_user(user_id)
    gone = list(mine.filter(pk__in=clean_ids(ids)).order_by("pk").values_list("pk", flat=True))
    mine.filter(pk__in=gone).delete()
    return _Change(gone, user_id, {"type": "deleted", "ids": gone})


def _apply(change: _ChangeFn, user: Any, argument: Any) -> Any:
    user_id = getattr(user, "pk", user)
    using = router.db_for_write(Notification)
    with transaction.atomic(using=using):
        done = change(user_id, argument, using)
        transaction.on_commit(
            lambda: delivery.push_now([delivery.prepare_state_push(user_id, done.event)]),
            using=using,
            robust=True,
        )
    return done.result


def _change_and_prepare(
    change: _ChangeFn, user_id: Any, argument: Any
) -> tuple[Any, delivery.Push]:
    using = router.db_for_write(Notification)
    with transaction.atomic(using=using):
        done = change(user_id, argument, using)
    return done.result, delivery.prepare_state_push(user_id, done.event)


async def _aapply(change: _ChangeFn, user: Any, argument: Any) -> Any:
    user_id = getattr(user, "pk", user)
    result, push = await database_sync_to_async(_change_and_prepare)(change, user_id, argument)
    await delivery.apush([push])
    return result
