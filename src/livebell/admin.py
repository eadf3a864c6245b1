from __future__ import annotations

from django.contrib import admin

from livebell.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "recipient",
        "verb",
        "actor",
        "level",
        "created_at",
        "read_at",
    )
    list_filter = (
        "level",
        ("read_at", admin.EmptyFieldListFilter),
    )
    list_select_related = (
        "recipient",
        "actor",
    )
    search_fields = (
        "verb",
        "recipient__username",
    )
    raw_id_fields = (
        "recipient",
        "actor",
    )
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
