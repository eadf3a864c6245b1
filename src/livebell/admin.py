"""Admin for notifications and web push devices. Read state changes and deletions of
notifications go through :mod:`livebell.inbox`, so the recipients' open tabs are told."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from livebell import inbox
from livebell.ids import MAX_IDS
from livebell.models import Notification, WebPushSubscription


def _by_recipient(
    queryset: QuerySet[Notification], change: Callable[[Any, list[int]], Iterable[int]]
) -> int:
    ids_by_user: dict[Any, list[int]] = defaultdict(list)
    for user_id, pk in queryset.values_list("recipient_id", "pk"):
        ids_by_user[user_id].append(pk)
    changed = 0
    for user_id, ids in ids_by_user.items():
        for start in range(0, len(ids), MAX_IDS):
            changed += len(list(change(user_id, ids[start : start + MAX_IDS])))
    return changed


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "recipient", "type", "verb", "actor", "count", "created_at", "read_at")
    list_filter = ("type", "level", ("read_at", admin.EmptyFieldListFilter))
    list_select_related = ("recipient", "actor")
    search_fields = ("verb", "recipient__username")
    raw_id_fields = ("recipient", "actor")
    # Read state changes through the actions, which tell the recipient's tabs.
    readonly_fields = ("created_at", "read_at")
    date_hierarchy = "created_at"
    actions = ("mark_read", "mark_unread")

    @admin.action(description="Mark selected notifications read")
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        changed = _by_recipient(queryset, inbox.mark_read)
        self.message_user(request, f"{changed} marked read.", messages.SUCCESS)

    @admin.action(description="Mark selected notifications unread")
    def mark_unread(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        changed = _by_recipient(queryset, inbox.mark_unread)
        self.message_user(request, f"{changed} marked unread.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Notification) -> None:
        inbox.delete(obj.recipient_id, [obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        _by_recipient(queryset, inbox.delete)


@admin.register(WebPushSubscription)
class WebPushSubscriptionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Users' web push devices, to look at and delete (a user who lost a device).

    Read-only: a device is made by its browser. The endpoint is a capability (whoever
    has it and the keys can push to the device), so only its push service is shown."""

    list_display = (
        "id",
        "user",
        "push_service",
        "language",
        "created_at",
        "last_success_at",
        "last_failure_at",
    )
    list_select_related = ("user",)
    list_filter = (("last_failure_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username",)
    date_hierarchy = "created_at"
    fields = (
        "user",
        "push_service",
        "language",
        "created_at",
        "last_success_at",
        "last_failure_at",
    )
    readonly_fields = fields
    actions = ("delete_selected",)

    @admin.display(description=_("push service"))
    def push_service(self, obj: WebPushSubscription) -> str:
        return urlsplit(obj.endpoint).netloc

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
