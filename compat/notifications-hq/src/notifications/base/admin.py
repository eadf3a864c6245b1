"""hq's admin base class, for swapped models."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

__all__ = ["AbstractNotificationAdmin"]


class AbstractNotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    raw_id_fields = ("recipient",)
    list_display = ("recipient", "actor", "level", "target", "unread", "public")
    list_filter = ("level", "unread", "public", "timestamp")

    def get_queryset(self, request: Any) -> Any:
        # The generic relations the list shows, in one query per kind of object.
        return super().get_queryset(request).prefetch_related("actor", "target")

    def action_checkbox(self, obj: Any) -> SafeString:
        """Django's checkbox, labelled "actor verb" rather than ``str(obj)``, which
        loads each row's action object (one query per row since Django 5.0 labels it)."""
        attrs = {
            "class": "action-select",
            "aria-label": format_html(
                _("Select this object for an action - {}"), f"{obj.actor} {obj.verb}"
            ),
        }
        return forms.CheckboxInput(attrs, lambda value: False).render(
            helpers.ACTION_CHECKBOX_NAME, str(obj.pk)
        )
