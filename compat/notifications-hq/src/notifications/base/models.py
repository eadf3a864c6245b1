"""hq's abstract notification, its QuerySet and ``notify``'s receiver.

The columns are hq 1.8.3's, so an hq database is read as it is. Three things differ:

- ``data`` is Django's ``JSONField`` (hq used the ``jsonfield`` package's, a text
  column; migration 0010 converts it), and the ``(recipient, unread)`` index is a
  ``Meta.indexes`` entry (``index_together`` is gone from Django 5.1).
- Every change of ``unread`` or ``deleted`` — ``save()``, ``QuerySet.update()``,
  ``delete()`` — is also made to the notification's livebell twin
  (:mod:`notifications.mirror`), so both APIs count the same unread notifications.
- Settings are read when used, not at import.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models.query import QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from swapper import load_model

from notifications import mirror
from notifications import settings as notifications_settings
from notifications.signals import notify
from notifications.utils import id2slug

__all__ = [
    "EXTRA_DATA",  # noqa: F822 - provided by __getattr__ below
    "AbstractNotification",
    "NotificationLevel",
    "NotificationQuerySet",
    "notify_handler",
]


def __getattr__(name: str) -> Any:
    # hq read USE_JSONFIELD once, at import, into EXTRA_DATA; here it is read when asked.
    if name == "EXTRA_DATA":
        return notifications_settings.get_config()["USE_JSONFIELD"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_soft_delete() -> bool:
    return bool(notifications_settings.get_config()["SOFT_DELETE"])


def assert_soft_delete() -> None:
    if not is_soft_delete():
        raise ImproperlyConfigured(
            "To use the 'deleted' field, set DJANGO_NOTIFICATIONS_CONFIG['SOFT_DELETE'] = True."
        )


class NotificationLevel(models.TextChoices):
    """hq's ``LEVELS``: ``Notification.LEVELS.info == "info"``; livebell's four levels."""

    success = "success", "success"
    info = "info", "info"
    warning = "warning", "warning"
    error = "error", "error"


class NotificationQuerySet(models.QuerySet):  # type: ignore[type-arg]
    """hq's QuerySet, used as ``Notification.objects`` and ``user.notifications``."""

    def unsent(self) -> NotificationQuerySet:
        return self.filter(emailed=False)

    def sent(self) -> NotificationQuerySet:
        return self.filter(emailed=True)

    def unread(self, include_deleted: bool = False) -> NotificationQuerySet:
        """Only unread items (without the soft-deleted ones, when SOFT_DELETE is on)."""
        if is_soft_delete() and not include_deleted:
            return self.filter(unread=True, deleted=False)
        return self.filter(unread=True)

    def read(self, include_deleted: bool = False) -> NotificationQuerySet:
        """Only read items (without the soft-deleted ones, when SOFT_DELETE is on)."""
        if is_soft_delete() and not include_deleted:
            return self.filter(unread=False, deleted=False)
        return self.filter(unread=False)

    def mark_all_as_read(self, recipient: Any = None) -> int:
        """Mark the unread items read (of ``recipient`` only, if given); how many changed."""
        qset = self.unread(True)
        if recipient:
            qset = qset.filter(recipient=recipient)
        return qset.update(unread=False)

    def mark_all_as_unread(self, recipient: Any = None) -> int:
        qset = self.read(True)
        if recipient:
            qset = qset.filter(recipient=recipient)
        return qset.update(unread=True)

    def deleted(self) -> NotificationQuerySet:
        assert_soft_delete()
        return self.filter(deleted=True)

    def active(self) -> NotificationQuerySet:
        assert_soft_delete()
        return self.filter(deleted=False)

    def mark_all_as_deleted(self, recipient: Any = None) -> int:
        assert_soft_delete()
        qset = self.active()
        if recipient:
            qset = qset.filter(recipient=recipient)
        return qset.update(deleted=True)

    def mark_all_as_active(self, recipient: Any = None) -> int:
        assert_soft_delete()
        qset = self.deleted()
        if recipient:
            qset = qset.filter(recipient=recipient)
        return qset.update(deleted=False)

    def mark_as_unsent(self, recipient: Any = None) -> int:
        qset = self.sent()
        if recipient:
            qset = qset.filter(recipient=recipient)
        return qset.update(emailed=False)

    def mark_as_sent(self, recipient: Any = None) -> int:
        qset = self.unsent()
        if recipient:
            qset = qset.filter(recipient=recipient)
        return qset.update(emailed=True)

    def update(self, **kwargs: Any) -> int:
        """``QuerySet.update()``, which also changes the livebell twins when it sets
        ``unread`` or ``deleted`` (hq's bulk verbs all come here)."""
        if "unread" not in kwargs and "deleted" not in kwargs:
            return super().update(**kwargs)
        from notifications import mirror

        with transaction.atomic(using=self.db):
            rows = list(self.values_list("pk", "recipient_id", "unread", "deleted"))
            count = super().update(**kwargs)
            mirror.after_update(self.model, rows, kwargs)
        return count


class AbstractNotification(models.Model):
    """hq's notification: an actor did a verb (to an action object, on a target).

    ``<actor> <verb> <action_object> <target> <time>``, e.g. "brosner commented on
    pinax/pinax 2 hours ago". Subclass it for a custom model named by
    ``NOTIFICATIONS_NOTIFICATION_MODEL`` (hq's swappable model).
    """

    LEVELS = NotificationLevel
    level = models.CharField(
        _("level"), choices=NotificationLevel.choices, default=NotificationLevel.info, max_length=20
    )

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
        blank=False,
    )
    unread = models.BooleanField(_("unread"), default=True, blank=False, db_index=True)

    actor_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="notify_actor",
        verbose_name=_("actor content type"),
    )
    actor_object_id = models.CharField(_("actor object id"), max_length=255)
    actor = GenericForeignKey("actor_content_type", "actor_object_id")
    actor.short_description = _("actor")  # type: ignore[attr-defined]

    verb = models.CharField(_("verb"), max_length=255)
    description = models.TextField(_("description"), blank=True, null=True)

    target_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="notify_target",
        verbose_name=_("target content type"),
        blank=True,
        null=True,
    )
    target_object_id = models.CharField(
        _("target object id"), max_length=255, blank=True, null=True
    )
    target = GenericForeignKey("target_content_type", "target_object_id")
    target.short_description = _("target")  # type: ignore[attr-defined]

    action_object_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="notify_action_object",
        verbose_name=_("action object content type"),
        blank=True,
        null=True,
    )
    action_object_object_id = models.CharField(
        _("action object object id"), max_length=255, blank=True, null=True
    )
    action_object = GenericForeignKey("action_object_content_type", "action_object_object_id")
    action_object.short_description = _("action object")  # type: ignore[attr-defined]

    timestamp = models.DateTimeField(_("timestamp"), default=timezone.now, db_index=True)

    public = models.BooleanField(_("public"), default=True, db_index=True)
    deleted = models.BooleanField(_("deleted"), default=False, db_index=True)
    emailed = models.BooleanField(_("emailed"), default=False, db_index=True)

    data = models.JSONField(_("data"), blank=True, null=True)

    objects: ClassVar[NotificationQuerySet] = NotificationQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        abstract = True
        ordering = ("-timestamp",)
        # Unread counts: recipient = ? AND unread (hq's index_together, as an index).
        indexes = (models.Index(fields=["recipient", "unread"], name="%(class)s_rcpt_unread"),)
        verbose_name = _("Notification")
        verbose_name_plural = _("Notifications")

    def __str__(self) -> str:
        ctx = {
            "actor": self.actor,
            "verb": self.verb,
            "action_object": self.action_object,
            "target": self.target,
            "timesince": self.timesince(),
        }
        if self.target:
            if self.action_object:
                return (
                    _("%(actor)s %(verb)s %(action_object)s on %(target)s %(timesince)s ago") % ctx
                )
            return _("%(actor)s %(verb)s %(target)s %(timesince)s ago") % ctx
        if self.action_object:
            return _("%(actor)s %(verb)s %(action_object)s %(timesince)s ago") % ctx
        return _("%(actor)s %(verb)s %(timesince)s ago") % ctx

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> AbstractNotification:
        # **kwargs: Django 6.1 passes fetch_mode.
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._remember_state()
        return instance

    def _remember_state(self) -> None:
        """Note ``unread`` and ``deleted`` as stored, so that ``save()`` tells livebell
        only about a change (see :func:`notifications.mirror.on_saved`)."""
        self._stored_state = (self.__dict__.get("unread"), self.__dict__.get("deleted"))

    def timesince(self, now: Any = None) -> str:
        """``django.utils.timesince.timesince`` of the timestamp."""
        from django.utils.timesince import timesince as timesince_

        return timesince_(self.timestamp, now)

    def naturalday(self) -> str:
        """``today``, ``yesterday`` or the date, by ``django.contrib.humanize`` (hq
        had it on its concrete model only, so swapped models lacked it)."""
        from django.contrib.humanize.templatetags.humanize import naturalday

        return str(naturalday(self.timestamp))

    def naturaltime(self) -> str:
        """``now``, ``2 seconds ago``…, by ``django.contrib.humanize``."""
        from django.contrib.humanize.templatetags.humanize import naturaltime

        return str(naturaltime(self.timestamp))

    @property
    def slug(self) -> int:
        return id2slug(self.pk)

    def mark_as_read(self) -> None:
        if self.unread:
            self.unread = False
            self.save()

    def mark_as_unread(self) -> None:
        if not self.unread:
            self.unread = True
            self.save()

    def _admin_link(self, content_type: Any, object_id: Any) -> Any:
        if content_type is None:
            return object_id
        try:
            url = reverse(
                f"admin:{content_type.app_label}_{content_type.model}_change", args=(object_id,)
            )
        except NoReverseMatch:
            return object_id
        return format_html("<a href='{url}'>{id}</a>", url=url, id=object_id)

    def actor_object_url(self) -> Any:
        return self._admin_link(self.actor_content_type, self.actor_object_id)

    def action_object_url(self) -> Any:
        return self._admin_link(self.action_object_content_type, self.action_object_object_id)

    def target_object_url(self) -> Any:
        return self._admin_link(self.target_content_type, self.target_object_id)


def notify_handler(verb: Any, **kwargs: Any) -> list[AbstractNotification]:
    """``notify``'s receiver: store one notification per recipient (a user, a Group,
    a list or a QuerySet of users), each also a livebell notification."""
    kwargs.pop("signal", None)
    recipient = kwargs.pop("recipient")
    actor = kwargs.pop("sender")
    optional_objs = [(kwargs.pop(opt, None), opt) for opt in ("target", "action_object")]
    public = bool(kwargs.pop("public", True))
    description = kwargs.pop("description", None)
    timestamp = kwargs.pop("timestamp", timezone.now())
    Notification = load_model("notifications", "Notification")
    level = kwargs.pop("level", Notification.LEVELS.info)
    actor_for_concrete_model = kwargs.pop("actor_for_concrete_model", True)
    extra_data = notifications_settings.get_config()["USE_JSONFIELD"]

    if isinstance(recipient, Group):
        recipients: Any = recipient.user_set.all()
    elif isinstance(recipient, (QuerySet, list)):
        recipients = recipient
    else:
        recipients = [recipient]

    new_notifications = []
    # One transaction for the rows and their twins, which are stored together at the
    # end: one livebell.notify_each(), not a transaction per recipient of a group.
    with transaction.atomic(), mirror.storing_together():
        for one in recipients:
            newnotify = Notification(
                recipient=one,
                actor_content_type=ContentType.objects.get_for_model(
                    actor, for_concrete_model=actor_for_concrete_model
                ),
                actor_object_id=actor.pk,
                verb=str(verb),
                public=public,
                description=description,
                timestamp=timestamp,
                level=level,
            )
            # The objects themselves, so the livebell twin needs no query to find them.
            newnotify._objects = {"actor": actor}
            for obj, opt in optional_objs:
                if obj is not None:
                    for_concrete_model = kwargs.pop(f"{opt}_for_concrete_model", True)
                    setattr(newnotify, f"{opt}_object_id", obj.pk)
                    setattr(
                        newnotify,
                        f"{opt}_content_type",
                        ContentType.objects.get_for_model(
                            obj, for_concrete_model=for_concrete_model
                        ),
                    )
                    newnotify._objects[opt] = obj
            if kwargs and extra_data:
                # Options that name a column of the model set it; the rest go to data.
                for key in list(kwargs):
                    if hasattr(newnotify, key):
                        setattr(newnotify, key, kwargs.pop(key))
                newnotify.data = kwargs
            newnotify.save()
            new_notifications.append(newnotify)
    return new_notifications


notify.connect(notify_handler, dispatch_uid="notifications.models.notification")
