"""Muting an object: no notification about it is stored for the user until a time, or
until unmuted.

``notify()`` leaves out the recipients who muted its target, looked up in bulk
(one query per 1,000 recipients). A target may belong to a thread: a model whose
instances define ``livebell_thread()`` (an answer returning its question, a comment
its post) is silenced by a mute of that thread too, so muting a question mutes the
notifications about its answers and comments.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models, router, transaction
from django.utils import timezone

from livebell.models import TARGET_ID_MAX_LENGTH, Mute

__all__ = [
    "MAX_MUTES",
    "MuteError",
    "is_muted",
    "keys_of",
    "mute",
    "mute_key",
    "muted_among",
    "unmute",
]

#: The most objects one user may have muted at once (live mutes: ended ones are
#: deleted when the user next mutes something).
MAX_MUTES = 1000
# Recipients looked up per query.
CHUNK = 1000


class MuteError(ValueError):
    """A mute that cannot be made: not a saved object, an expiry in the past, or too many."""


def mute(user: Any, target: models.Model, until: datetime | None = None) -> Mute:
    """Mute ``target`` for ``user`` until ``until`` (None: until unmuted).

    Muting again changes the expiry.

    Raises:
        MuteError: ``target`` is not a saved model instance, ``until`` is not in the
            future, or the user already has :data:`MAX_MUTES` live mutes.
    """
    content_type, object_id = _key(target)
    return mute_key(user, content_type, object_id, until)


def mute_key(
    user: Any, content_type: ContentType, object_id: str, until: datetime | None = None
) -> Mute:
    """:func:`mute` for a target named by its content type and primary key (as the
    REST API names it), which need not be loaded.

    Raises:
        MuteError: as :func:`mute`, or an object id longer than 64 characters.
    """
    user_id = getattr(user, "pk", user)
    if until is not None and until <= timezone.now():
        raise MuteError("until must be in the future.")
    if len(object_id) > TARGET_ID_MAX_LENGTH or not object_id:
        raise MuteError(f"A target id is 1 to {TARGET_ID_MAX_LENGTH} characters.")
    using = router.db_for_write(Mute)
    with transaction.atomic(using=using):
        # One user's mutes are made one at a time, on a lock of their user row (which
        # always exists, unlike a mute row to lock): the count below and the insert
        # are then one step, and concurrent requests cannot pass the cap together.
        users = get_user_model()._default_manager.using(using)
        list(users.select_for_update().filter(pk=user_id).values_list("pk", flat=True))
        mine = Mute.objects.using(using).filter(user_id=user_id)
        # Ended mutes silence nothing and are not listed (so cannot be unmuted):
        # they go, and the cap counts live mutes only.
        mine.filter(until__lte=timezone.now()).delete()
        # A locking read: it sees the latest committed rows, also under REPEATABLE
        # READ (MariaDB/MySQL's default) in a transaction that read before.
        live = set(
            mine.select_for_update().values_list("target_content_type_id", "target_object_id")
        )
        if (content_type.pk, object_id) not in live and len(live) >= MAX_MUTES:
            raise MuteError(f"At most {MAX_MUTES} muted objects; unmute some first.")
        muted, _ = Mute.objects.using(using).update_or_create(
            user_id=user_id,
            target_content_type=content_type,
            target_object_id=object_id,
            defaults={"until": until},
        )
    return muted


def unmute(user: Any, target: models.Model) -> bool:
    """Unmute ``target`` for ``user``; whether it was muted."""
    content_type, object_id = _key(target)
    user_id = getattr(user, "pk", user)
    deleted, _ = Mute.objects.filter(
        user_id=user_id, target_content_type=content_type, target_object_id=object_id
    ).delete()
    return bool(deleted)


def is_muted(user: Any, target: models.Model) -> bool:
    """Whether a notification about ``target`` is silenced for ``user`` right now (a mute
    of the target or of its thread)."""
    return bool(muted_among(keys_of(target), [getattr(user, "pk", user)]))


def muted_among(keys: Sequence[tuple[int, str]], user_ids: Sequence[Any]) -> set[Any]:
    """The users among ``user_ids`` who have muted, now, any of ``keys`` (content type id,
    object id): a notification's target and its thread. One query per 1,000 users."""
    if not keys:
        return set()
    now = timezone.now()
    named = models.Q()
    for content_type_id, object_id in keys:
        named |= models.Q(target_content_type_id=content_type_id, target_object_id=object_id)
    muted: set[Any] = set()
    for start in range(0, len(user_ids), CHUNK):
        muted.update(
            Mute.objects.filter(
                named,
                models.Q(until__isnull=True) | models.Q(until__gt=now),
                user_id__in=user_ids[start : start + CHUNK],
            ).values_list("user_id", flat=True)
        )
    return muted


def keys_of(target: models.Model) -> list[tuple[int, str]]:
    """The mute keys that silence a notification about ``target``: its own, and its
    thread's (``target.livebell_thread()``, if it defines one)."""
    content_type, object_id = _key(target)
    keys = [(content_type.pk, object_id)]
    thread_of = getattr(target, "livebell_thread", None)
    thread = thread_of() if callable(thread_of) else None
    if isinstance(thread, models.Model) and thread.pk is not None:
        thread_type, thread_id = _key(thread)
        keys.append((thread_type.pk, thread_id))
    return keys


def _key(target: object) -> tuple[ContentType, str]:
    if not isinstance(target, models.Model) or target.pk is None:
        raise MuteError("target must be a saved model instance.")
    return ContentType.objects.get_for_model(target), str(target.pk)
