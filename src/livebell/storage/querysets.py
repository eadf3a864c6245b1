"""Reading stored notifications: the QuerySet used as ``Notification.objects``.

Only reads live here. Every change to a user's notifications goes through
:mod:`livebell.inbox` (read state, deletion) or :func:`livebell.notify`, which
keep the user's counters exact and tell their open sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from livebell.models import Notification  # noqa: F401 - named in the base class below

__all__ = ["NotificationQuerySet"]


class NotificationQuerySet(models.QuerySet["Notification"]):
    """QuerySet used as ``Notification.objects``."""

    def for_user(self, user: Any) -> NotificationQuerySet:
        """Notifications whose recipient is ``user`` (a user instance or a primary key)."""
        user_id = getattr(user, "pk", user)
        return self.filter(recipient_id=user_id)

    def unread(self) -> NotificationQuerySet:
        """Notifications not yet read."""
        return self.filter(read_at__isnull=True)

    def read(self) -> NotificationQuerySet:
        """Notifications already read."""
        return self.filter(read_at__isnull=False)

    def with_related(self) -> NotificationQuerySet:
        """Join the actor, and bring the other actors of merged rows up to date (their
        current names, deleted users as ghosts: :func:`livebell.storage.actors.refresh`), so
        building payloads costs no further queries."""
        clone = self.select_related("actor")
        if issubclass(clone._iterable_class, models.query.ModelIterable):
            clone._iterable_class = _WithActors
        return clone


if TYPE_CHECKING:
    _Rows = models.query.ModelIterable[Any]
else:  # not subscriptable at run time
    _Rows = models.query.ModelIterable


class _WithActors(_Rows):
    """Rows with their merged actors refreshed: one query per chunk of rows that holds
    a merged one."""

    def __iter__(self) -> Iterator[Any]:
        from livebell.storage import actors

        chunk: list[Any] = []
        for row in super().__iter__():
            chunk.append(row)
            if len(chunk) == _REFRESH_CHUNK:
                actors.refresh(chunk, self.queryset.db)
                yield from chunk
                chunk = []
        actors.refresh(chunk, self.queryset.db)
        yield from chunk


# Rows whose merged actors are looked up together.
_REFRESH_CHUNK = 1000
