"""The one JSON shape of a notification, shared by the socket and the REST API."""

from __future__ import annotations

from typing import Any, TypedDict

from django.contrib.contenttypes.models import ContentType

from livebell.models import Notification

__all__ = ["ActorPayload", "NotificationPayload", "TargetPayload", "notification_payload"]


class ActorPayload(TypedDict):
    id: Any
    username: str


class TargetPayload(TypedDict):
    type: str
    id: str
    text: str
    url: str


class NotificationPayload(TypedDict):
    id: int
    verb: str
    actor: ActorPayload | None
    target: TargetPayload | None
    level: str
    data: Any
    created_at: str
    unread: bool


def notification_payload(notification: Notification) -> NotificationPayload:
    """Build the wire object of one notification.

    Costs no query when the actor is loaded (``with_related()``, or rows made by
    ``notify()``); content types come from Django's per-process cache.
    """
    actor: ActorPayload | None = None
    if notification.actor is not None:
        actor = ActorPayload(id=notification.actor_id, username=notification.actor.get_username())
    target: TargetPayload | None = None
    if notification.target_content_type_id is not None:
        content_type = ContentType.objects.get_for_id(notification.target_content_type_id)
        target = {
            "type": f"{content_type.app_label}.{content_type.model}",
            "id": notification.target_object_id,
            "text": notification.target_text,
            "url": notification.target_url,
        }
    return {
        "id": notification.pk,
        "verb": notification.verb,
        "actor": actor,
        "target": target,
        "level": notification.level,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "unread": notification.read_at is None,
    }
