"""The ``notifications`` app: hq's label and primary key type, and its bridge to livebell."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

__all__ = ["Config"]


class Config(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")
    # hq's tables have 32-bit ids (its migrations say AutoField).
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        super().ready()
        # hq connects notify's receiver when its models module is imported; importing
        # the signals here as hq does keeps `notifications.signals` loaded early.
        from notifications import checks, mirror, signals  # noqa: F401

        mirror.connect()
