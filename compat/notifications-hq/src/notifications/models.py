"""hq's concrete ``Notification``, swappable with ``NOTIFICATIONS_NOTIFICATION_MODEL``."""

from __future__ import annotations

from swapper import swappable_setting

from notifications.base.models import AbstractNotification, notify_handler  # noqa: F401

__all__ = ["Notification"]


class Notification(AbstractNotification):
    class Meta(AbstractNotification.Meta):
        abstract = False
        swappable = swappable_setting("notifications", "Notification")
