"""The stored notification: the inbox, and the log that clients replay from."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from livebell.querysets import NotificationQuerySet

__all__ = ["MAX_ID", "VERB_MAX_LENGTH", "Level", "Notification"]

VERB_MAX_LENGTH = 128
# The largest value of a BigAutoField on every backend Django supports. Larger
# integers cannot name a row, and SQLite raises OverflowError when one is bound as
# a parameter, so ids from clients are refused above it before any query.
MAX_ID = 2**63 - 1
TARGET_TEXT_MAX_LENGTH = 255
TARGET_URL_MAX_LENGTH = 1024


class Level(models.TextChoices):
    INFO = "info", "Info"
    SUCCESS = "success", "Success"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class Notification(models.Model):
    """One notification for one recipient. ``read_at`` is null while unread."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="livebell_notifications",
        # The composite indexes below lead with recipient, so its own index is redundant.
        db_index=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    verb = models.CharField(max_length=VERB_MAX_LENGTH)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)

    # The target is optional and generic. Its text and URL are copied at creation so
    # that lists render without one query per row (and survive the target's deletion).
    target_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    target_object_id = models.CharField(max_length=64, blank=True, default="")
    target = GenericForeignKey("target_content_type", "target_object_id")
    target_text = models.CharField(max_length=TARGET_TEXT_MAX_LENGTH, blank=True, default="")
    target_url = models.CharField(max_length=TARGET_URL_MAX_LENGTH, blank=True, default="")

    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[NotificationQuerySet] = NotificationQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-id",)
        indexes = (
            # Unread counts and unread lists: recipient = ? AND read_at IS NULL [ORDER BY id].
            models.Index(fields=["recipient", "read_at", "id"], name="livebell_rcpt_read_id"),
            # Inbox pages and resume: recipient = ? [AND id > ?] ORDER BY id.
            models.Index(fields=["recipient", "id"], name="livebell_rcpt_id"),
        )

    def __str__(self) -> str:
        return f"{self.verb} → {self.recipient_id}"

    def __repr__(self) -> str:
        return f"<Notification {self.pk} {self.verb!r} to {self.recipient_id}>"

    @property
    def unread(self) -> bool:
        return self.read_at is None
