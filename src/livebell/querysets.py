"""Domain verbs over stored notifications.

These are storage operations only: they change rows and return counts. The
functions in :mod:`livebell.api` wrap them to also tell the user's open sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from livebell.models import Notification  # noqa: F401 - named in the base class below


def newest_id_subquery(user: models.Expression | models.F) -> models.Subquery:
    """The id of ``user``'s newest notification (NULL if none), as a subquery.

    ``user`` is an outer reference to a user's primary key, e.g. ``OuterRef("pk")``.
    One backward step on the (recipient, id) index.
    """
    from livebell.models import Notification

    newest = Notification.objects.filter(recipient_id=user).order_by("-id").values("id")[:1]
    return models.Subquery(newest)


def unread_count_subquery(user: models.Expression | models.F) -> models.Subquery:
    """How many of ``user``'s notifications are unread, as a subquery.

    A range on the (recipient, read_at, id) index.
    """
    from livebell.models import Notification

    unread = (
        Notification.objects.filter(recipient_id=user, read_at__isnull=True)
        .order_by()
        .values("recipient_id")
        .annotate(n=models.Count("id"))
        .values("n")
    )
    return models.Subquery(unread, output_field=models.IntegerField())


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

    def mark_read(self, ids: Iterable[int] | None = None) -> int:
        """Mark unread rows read (only ``ids``, if given); return how many changed."""
        qs = self.unread()
        if ids is not None:
            qs = qs.filter(pk__in=list(ids))
        return qs.update(read_at=timezone.now())

    def mark_unread(self, ids: Iterable[int] | None = None) -> int:
        """Mark read rows unread (only ``ids``, if given); return how many changed."""
        qs = self.read()
        if ids is not None:
            qs = qs.filter(pk__in=list(ids))
        return qs.update(read_at=None)

    def mark_all_read(self, before_id: int | None = None) -> int:
        """Mark every unread row read, or only those with ``id <= before_id``."""
        qs = self.unread()
        if before_id is not None:
            qs = qs.filter(pk__lte=before_id)
        return qs.update(read_at=timezone.now())

    def unread_count(self) -> int:
        """How many of these rows are unread (served by the recipient/read_at index)."""
        return self.unread().count()

    def unread_counts(self, user_ids: Iterable[Any], chunk_size: int = 1000) -> dict[Any, int]:
        """Unread counts of many recipients, in one grouped query per ``chunk_size`` users.

        Users without unread rows are present with a count of 0.
        """
        ids = list(dict.fromkeys(user_ids))
        counts: dict[Any, int] = dict.fromkeys(ids, 0)
        for start in range(0, len(ids), chunk_size):
            rows = (
                self.unread()
                .filter(recipient_id__in=ids[start : start + chunk_size])
                .order_by()
                .values_list("recipient_id")
                .annotate(n=models.Count("id"))
            )
            counts.update(dict(rows))
        return counts
