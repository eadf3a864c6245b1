"""What livebell stores: each notification, and each recipient's inbox state.

A :class:`Notification` is one row per recipient; the rows are the inbox and the
log that clients catch up from. An :class:`InboxState` is one small row per
recipient that the write paths lock and update (see :mod:`livebell.storage.state`). A
:class:`SocketTicket` is a short-lived, single-use pass to open a socket without
cookies (see :mod:`livebell.live.tickets`). A :class:`WebPushSubscription` is one
device a user asked to be notified on (see :mod:`livebell.reach.webpush`).
:class:`EmailMark` and :class:`PendingEmail` are the email sweep's bookkeeping
(see :mod:`livebell.reach.email`): ``notify()`` writes neither.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from livebell.storage.querysets import NotificationQuerySet

# Defined with the types, which check them first; re-exported here, beside the columns.
from livebell.types import KEY_MAX_LENGTH, Channel, Level

__all__ = [
    "ACTORS_KEPT",
    "VERB_MAX_LENGTH",
    "Channel",
    "EmailMark",
    "InboxState",
    "Level",
    "Mute",
    "Notification",
    "PendingEmail",
    "Preference",
    "SocketTicket",
    "WebPushSubscription",
]

VERB_MAX_LENGTH = 128
TARGET_TEXT_MAX_LENGTH = 255
TARGET_URL_MAX_LENGTH = 1024
TARGET_ID_MAX_LENGTH = 64
#: How many of a merged notification's latest actors are kept (newest first).
ACTORS_KEPT = 5


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
    #: The registered type's key (livebell.types), or "" for an untyped notification.
    type = models.CharField(max_length=KEY_MAX_LENGTH, blank=True, default="")

    # The target is optional and generic. Its text and URL are copied at creation so
    # that lists render without one query per row (and survive the target's deletion).
    target_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    target_object_id = models.CharField(max_length=TARGET_ID_MAX_LENGTH, blank=True, default="")
    target = GenericForeignKey("target_content_type", "target_object_id")
    target_text = models.CharField(max_length=TARGET_TEXT_MAX_LENGTH, blank=True, default="")
    target_url = models.CharField(max_length=TARGET_URL_MAX_LENGTH, blank=True, default="")

    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    # Live grouping (see docs/types.md): a notification of a grouping type that arrives
    # while an unread one of the same type, recipient and target is recent is stored as
    # a new row that replaces it, with the count and the latest actors carried over.
    #: How many notifications this row stands for (1 unless merged).
    count = models.PositiveIntegerField(default=1)
    #: The latest actors of a merged row, newest first: [{"id": …, "username": …}, …].
    actors = models.JSONField(default=list, blank=True)
    #: The id of the first row of its group: each merged row replaces the row of the
    #: same group a client has. None for a notification that never merged.
    group = models.BigIntegerField(null=True, blank=True)

    objects: ClassVar[NotificationQuerySet] = NotificationQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-id",)
        indexes = (
            # Unread counts and unread lists: recipient = ? AND read_at IS NULL [ORDER BY id].
            models.Index(fields=["recipient", "read_at", "id"], name="livebell_rcpt_read_id"),
            # Inbox pages and catch-ups: recipient = ? [AND id > ?] ORDER BY id.
            models.Index(fields=["recipient", "id"], name="livebell_rcpt_id"),
            # Live grouping: the recipient's unread rows of one type about one target.
            models.Index(
                fields=["recipient", "type", "target_object_id"], name="livebell_rcpt_type_target"
            ),
        )

    def __str__(self) -> str:
        return f"{self.verb} → {self.recipient_id}"

    def __repr__(self) -> str:
        return f"<Notification {self.pk} {self.verb!r} to {self.recipient_id}>"

    @property
    def unread(self) -> bool:
        return self.read_at is None


class InboxState(models.Model):
    """One recipient's inbox in three numbers, kept exact by every livebell write.

    ``notify()`` and :mod:`livebell.inbox` lock this row (creating it on first use)
    before they change the user's notifications, and update it in the same
    transaction. So the unread count and the newest id cost one primary-key
    lookup, and two transactions writing to one user's inbox take turns.
    Rows written outside livebell's API are not counted until
    ``manage.py livebell_rebuild_state`` recounts them.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="livebell_inbox_state",
    )
    #: The id of the newest notification ever stored for the user (0 before the first);
    #: it never goes down, also when notifications are deleted.
    last_id = models.BigIntegerField(default=0)
    unread_count = models.PositiveIntegerField(default=0)
    #: Goes up by one with every change to the user's inbox, in commit order: lets a
    #: socket tell a stale unread count from a fresh one.
    revision = models.BigIntegerField(default=0)
    #: The newest id that retention (``manage.py livebell_prune``) deleted for the user
    #: (0 if none): a client resuming from an older id missed something that is gone,
    #: and its catch-up says ``truncated``. Never goes down. A default in the database
    #: too: the MySQL/MariaDB write of state rows for non-integer user keys is an
    #: ``INSERT … ON DUPLICATE KEY UPDATE`` that does not name it (as are those of
    #: processes still running the previous version during a deploy).
    pruned_through = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        verbose_name = "inbox state"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.unread_count} unread, last {self.last_id}"


class SocketTicket(models.Model):
    """An unused socket ticket: who it is for, what it is bound to, until when.

    Only a digest of the ticket is stored; redeeming the ticket deletes the row.
    """

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    #: The session the ticket was asked for with (empty when asked with a token).
    session_key = models.CharField(max_length=40, blank=True)
    #: The REST token the ticket was asked for with (empty when asked with a session).
    token_key = models.CharField(max_length=40, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"socket ticket of user {self.user_id} until {self.expires_at:%H:%M:%S}"


class Preference(models.Model):
    """A user's choice for one notification type on one channel (see livebell.preferences).

    No row: the type's default for that channel.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="livebell_preferences"
    )
    type = models.CharField(max_length=KEY_MAX_LENGTH)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["user", "type", "channel"], name="livebell_preference_once"
            ),
        )
        # notify() looks up the preferences of many recipients for one type and channel.
        indexes = (models.Index(fields=["type", "channel", "user"], name="livebell_pref_type"),)

    def __str__(self) -> str:
        return f"{self.user_id} {self.type} {self.channel}: {'on' if self.enabled else 'off'}"


class Mute(models.Model):
    """A user who wants no notification about one target, until a time or for good."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="livebell_mutes"
    )
    target_content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    target_object_id = models.CharField(max_length=TARGET_ID_MAX_LENGTH)
    target = GenericForeignKey("target_content_type", "target_object_id")
    #: None: muted until unmuted.
    until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["user", "target_content_type", "target_object_id"],
                name="livebell_mute_once",
            ),
        )
        # notify() looks up the mutes of many recipients for one target.
        indexes = (
            models.Index(
                fields=["target_content_type", "target_object_id", "user"],
                name="livebell_mute_target",
            ),
        )

    def __str__(self) -> str:
        return f"{self.user_id} muted {self.target_content_type_id}:{self.target_object_id}"


#: The longest push endpoint accepted (those of the big push services are under 500).
WEB_PUSH_ENDPOINT_MAX_LENGTH = 2048


class WebPushSubscription(models.Model):
    """One device (one browser profile) that receives a user's notifications by Web Push.

    The endpoint is unique: a device subscribes once, whoever is logged in on it last
    owns it. Only its SHA-256 is indexed (an index on 2,048 characters is too long for
    MariaDB/MySQL).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="livebell_web_push_subscriptions",
    )
    endpoint = models.TextField()
    #: The endpoint's SHA-256, hex: its unique key.
    endpoint_digest = models.CharField(max_length=64, unique=True)
    #: The browser's P-256 public key and auth secret (base64url), which encrypt each push.
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    #: The language the device subscribed in: what it is sent in.
    language = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    #: When its push service last accepted a push, and last refused one (not 404/410,
    #: which delete the row): what the admin shows.
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "web push subscription"
        # The user's devices, oldest first (listing, and replacing the oldest).
        indexes = (models.Index(fields=["user", "id"], name="livebell_webpush_user"),)

    def __str__(self) -> str:
        return f"web push device {self.pk} of user {self.user_id}"


class EmailMark(models.Model):
    """How far the email sweep has read the notifications of one type: every row of
    the type up to ``last_id`` was looked at once (queued for email, or passed over
    as read or too old), and is never looked at again."""

    type = models.CharField(max_length=KEY_MAX_LENGTH, primary_key=True)
    last_id = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "email mark"

    def __str__(self) -> str:
        return f"{self.type}: read up to {self.last_id}"


class PendingEmail(models.Model):
    """A notification that stayed unread past its type's delay and waits for its email.

    The sweep claims a user's rows and deletes them in one short transaction before
    it sends the one email that lists them: a row exists until its email is claimed,
    never after, so no notification is emailed twice.
    """

    # Not a foreign key: a notification deleted meanwhile (which sends no email) must
    # not wait for, or cascade into, rows a sweep has locked; the sweep reads the
    # notification again before it sends.
    notification_id = models.BigIntegerField(primary_key=True)
    # The sweep claims by user (user_id IN …): the foreign key's index serves it.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    #: Not claimed before this time (null: at once). An email whose send failed puts
    #: its rows back with a later time, so a later sweep tries again.
    due_at = models.DateTimeField(null=True, blank=True)
    #: How many sends of this row failed.
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "pending email"

    def __str__(self) -> str:
        return f"notification {self.notification_id} to {self.user_id}"
