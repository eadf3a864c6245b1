"""hq's admin for its notification (not registered when the model is swapped)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy
from swapper import is_swapped, load_model

from notifications.base.admin import AbstractNotificationAdmin

__all__ = ["Notification", "NotificationAdmin", "mark_unread"]

Notification = load_model("notifications", "Notification")


@admin.action(description=gettext_lazy("Mark selected notifications as unread"))
def mark_unread(modeladmin: Any, request: Any, queryset: Any) -> None:
    queryset.update(unread=True)


class NotificationAdmin(AbstractNotificationAdmin):
    readonly_fields = ("action_object_url", "actor_object_url", "target_object_url")
    actions = (mark_unread,)


if not is_swapped("notifications", "Notification"):
    admin.site.register(Notification, NotificationAdmin)
