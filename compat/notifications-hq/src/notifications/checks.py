"""System checks: the compat package stores through livebell, which must be installed."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.checks import Error, register

__all__ = ["livebell_installed"]


@register()
def livebell_installed(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if apps.is_installed("livebell"):
        return []
    return [
        Error(
            "livebell-notifications-hq stores every notification through livebell.",
            hint='Add "livebell" to INSTALLED_APPS '
            "(see docs/migrating-from-django-notifications.md).",
            id="notifications.E001",
        )
    ]
