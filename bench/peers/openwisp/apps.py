"""The bench's app in the openwisp project: registers the ``bench`` notification type."""

from django.apps import AppConfig

__all__ = ["MARKER_KEY", "NOTIFICATION_TYPE", "BenchOpenwispConfig"]

NOTIFICATION_TYPE = "bench"
# notify.send(..., marker="...") stores it in the notification's data; the type's
# message shows it, and the socket frame carries the rendered message.
MARKER_KEY = "marker"


class BenchOpenwispConfig(AppConfig):
    name = "bench.peers.openwisp"
    label = "bench_openwisp"

    def ready(self) -> None:
        from openwisp_notifications.types import register_notification_type

        register_notification_type(
            NOTIFICATION_TYPE,
            {
                "verbose_name": "Bench",
                "verb": "bench",
                "level": "info",
                "email_subject": "bench",
                # The frame's "message" is this, rendered as Markdown.
                "message": "{" + MARKER_KEY + "}",
                "email_notification": False,
                "web_notification": True,
            },
        )
