"""Reading stored notifications: the QuerySet used as ``Notification.objects``.

Only reads live here. Every change to a user's notifications goes through
:mod:`livebell.inbox` (read state, deletion) or :func:`livebell.notify`, which
keep the user's counters exact and tell their open sockets.
"""

from __future__ import annotations

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
        """Join the actor so building payloads costs no further queries."""
        return self.select_related("actor")
