"""Muting an object: no notification about it is stored for the user until a time, or
until unmuted.

``notify()`` leaves out the recipients who muted its target, looked up in bulk
(one query per 1,000 recipients).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from livebell.models import TARGET_ID_MAX_LENGTH, Mute

__all__ = ["MAX_MUTES", "MuteError", "is_muted", "mute", "mute_key", "muted_among", "unmute"]

#: The most objects one user may have muted at once.
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
            future, or the user already has :data:`MAX_MUTES` mutes.
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
    mine = Mute.objects.filter(user_id=user_id)
    existing = mine.filter(target_content_type=content_type, target_object_id=object_id).first()
    if existing is None and mine.count() >= MAX_MUTES:
        raise MuteError(f"At most {MAX_MUTES} muted objects; unmute some first.")
    muted, _ = Mute.objects.update_or_create(
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
    """Whether ``user`` has muted ``target`` right now."""
    content_type, object_id = _key(target)
    return bool(muted_among(content_type.pk, object_id, [getattr(user, "pk", user)]))


def muted_among(content_type_id: int, object_id: str, user_ids: Sequence[Any]) -> set[Any]:
    """The users among ``user_ids`` who have muted this target now (one query per 1,000)."""
    now = timezone.now()
    muted: set[Any] = set()
    for start in range(0, len(user_ids), CHUNK):
        muted.update(
            Mute.objects.filter(
                models.Q(until__isnull=True) | models.Q(until__gt=now),
                target_content_type_id=content_type_id,
                target_object_id=object_id,
                user_id__in=user_ids[start : start + CHUNK],
            ).values_list("user_id", flat=True)
        )
    return muted


def _key(target: object) -> tuple[ContentType, str]:
    if not isinstance(target, models.Model) or target.pk is None:
        raise MuteError("target must be a saved model instance.")
    return ContentType.objects.get_for_model(target), str(target.pk)
