from __future__ import annotations

from django.apps import AppConfig


class LivebellConfig(AppConfig):
    name = "livebell"
    verbose_name = "livebell notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks and the settings-reload receiver.
        from livebell import checks, conf  # noqa: F401
