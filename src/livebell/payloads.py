"""The one JSON shape of a notification, shared by the socket and the REST API.

``text`` is the sentence a reader sees, rendered by :func:`livebell.types.render`
in the active language: the REST API renders in the request's language; pushes
are rendered once in ``LANGUAGE_CODE`` and each socket whose reader reads another
language gets them through :func:`localize` / :func:`localize_frame`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypedDict

import orjson
from django.contrib.contenttypes.models import ContentType
from django.utils import translation

from livebell import types
from livebell.storage import actors
from livebell.storage.actors import ActorPayload

if TYPE_CHECKING:
    from livebell.models import Notification

__all__ = [
    "ActorPayload",
    "NotificationPayload",
    "TargetPayload",
    "localize",
    "localize_frame",
    "localizer",
    "notification_payload",
]


class TargetPayload(TypedDict):
    type: str
    id: str
    text: str
    url: str


class NotificationPayload(TypedDict):
    id: int
    type: str | None
    verb: str
    text: str
    actor: ActorPayload | None
    actors: list[ActorPayload]
    count: int
    group: int | None
    target: TargetPayload | None
    level: str
    data: Any
    created_at: str
    unread: bool


def notification_payload(notification: Notification) -> NotificationPayload:
    """Build the wire object of one notification, its ``text`` in the active language.

    Costs no query when the actor is loaded (``with_related()``, or rows made by
    ``notify()``); content types come from Django's per-process cache. A deleted
    actor is a ghost, a renamed one has its current name (see :mod:`livebell.storage.actors`).
    """
    actor, shown = actors.payload_of(notification)
    target: TargetPayload | None = None
    if notification.target_content_type_id is not None:
        content_type = ContentType.objects.get_for_id(notification.target_content_type_id)
        target = {
            "type": f"{content_type.app_label}.{content_type.model}",
            "id": notification.target_object_id,
            "text": notification.target_text,
            "url": notification.target_url,
        }
    payload: NotificationPayload = {
        "id": notification.pk,
        "type": notification.type or None,
        "verb": notification.verb,
        "text": "",
        "actor": actor,
        # A merged row keeps its latest actors; any other has at most its one actor.
        "actors": shown,
        "count": notification.count,
        "group": notification.group,
        "target": target,
        "level": notification.level,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "unread": notification.read_at is None,
    }
    payload["text"] = _text(payload)
    return payload


def localize(payload: NotificationPayload, language: str) -> NotificationPayload:
    """``payload`` with its ``text`` (and the name of a deleted actor) in ``language``;
    the same object when nothing of it depends on the language (no type, no ghost)."""
    ghosts = any(actors.is_ghost(actor) for actor in payload["actors"]) or actors.is_ghost(
        payload["actor"]
    )
    if payload["type"] is None and not ghosts:
        return payload
    with translation.override(language):
        localized: NotificationPayload = {**payload}
        if ghosts:
            localized["actors"] = [
                actors.ghost() if actors.is_ghost(actor) else actor for actor in payload["actors"]
            ]
            if actors.is_ghost(payload["actor"]):
                localized["actor"] = actors.ghost()
        localized["text"] = _text(localized)
        return localized


@functools.lru_cache(maxsize=4096)
def localize_frame(frame: str, language: str) -> str:
    """A ``notification`` frame with its notification's text rendered in ``language``.

    A process hands one push to every local socket of the user; each language is
    rendered once (the cache) however many sockets read it.
    """
    decoded = orjson.loads(frame)
    decoded["notification"] = localize(decoded["notification"], language)
    return orjson.dumps(decoded).decode()


def _text(payload: NotificationPayload) -> str:
    actor, target = payload["actor"], payload["target"]
    data = payload["data"] if isinstance(payload["data"], dict) else {}
    return types.render(
        payload["type"],
        verb=payload["verb"],
        actor=actor["username"] if actor else None,
        target=target["text"] if target else None,
        data=data,
        count=payload["count"],
    )


class _Localizer:
    """:func:`localize` and :func:`localize_frame`, as a session's
    :class:`~livebell.live.session.Localizer`."""

    frame = staticmethod(localize_frame)
    payload = staticmethod(localize)


#: What a :class:`livebell.live.session.Session` renders its reader's language with.
localizer = _Localizer()
