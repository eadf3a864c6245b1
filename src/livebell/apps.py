"""livebell's app configuration: system checks, settings, the session signals and the
user deletion signal, and web push after commit."""

from __future__ import annotations

from django.apps import AppConfig


class LivebellConfig(AppConfig):
    name = "livebell"
    verbose_name = "livebell notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save, pre_delete

        # Registers the system checks and the settings-reload receiver.
        from livebell import auth, checks, conf  # noqa: F401
        from livebell.storage import actors

        # A socket lives no longer than its session (see livebell.auth).
        user_model = get_user_model()
        user_logged_out.connect(auth.on_logout, dispatch_uid="livebell.auth.on_logout")
        post_save.connect(
            auth.on_user_saved, sender=user_model, dispatch_uid="livebell.auth.on_user_saved"
        )
        post_delete.connect(
            auth.on_user_deleted, sender=user_model, dispatch_uid="livebell.auth.on_user_deleted"
        )
        # A deleted user's name is not kept in the stored actors (see livebell.storage.actors).
        pre_delete.connect(
            actors.on_user_deleting,
            sender=user_model,
            dispatch_uid="livebell.storage.actors.on_user_deleting",
        )
        # Web push of what notify() stored, once committed (see livebell.reach.webpush).
        from livebell import signals
        from livebell.reach import webpush

        signals.notification_created.connect(
            webpush.on_notifications_created,
            dispatch_uid="livebell.reach.webpush.on_notifications_created",
        )
        # Logging out on a device stops its pushes (a shared computer).
        user_logged_out.connect(webpush.on_logout, dispatch_uid="livebell.reach.webpush.on_logout")
        # Email for what stays unread: a sweep enqueued after each commit (livebell.reach.email).
        from livebell.reach import email

        signals.notification_created.connect(
            email.on_notification_created,
            dispatch_uid="livebell.reach.email.on_notification_created",
        )
        from django.apps import apps

        if apps.is_installed("rest_framework.authtoken"):
            # Sockets opened with a ticket asked for with a token live no longer than it.
            post_delete.connect(
                auth.on_token_deleted,
                sender="authtoken.Token",
                dispatch_uid="livebell.auth.on_token_deleted",
            )
