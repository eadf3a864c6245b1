"""The lists hq's JSON endpoints return (``api/unread_list/``, ``api/all_list/``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.forms import model_to_dict
from django.http import HttpRequest

from notifications.settings import get_config
from notifications.utils import id2slug

__all__ = ["caused_by_other_site", "get_notification_list", "get_num_to_fetch"]


def caused_by_other_site(request: HttpRequest) -> bool:
    """Whether the browser says another site caused this request.

    ``Sec-Fetch-Site`` first (as livebell's ``go/``); without it, an ``Origin`` or
    ``Referer`` of another origin. A request with none of them (an old browser, a
    script, a test client) is not refused: hq's links worked for them.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    referer = request.headers.get("Referer")
    if origin is None and not referer:
        return False
    own = f"{request.scheme}://{request.get_host()}"
    if origin is not None:
        return origin != own
    parts = urlsplit(referer or "")
    return f"{parts.scheme}://{parts.netloc}" != own


def get_num_to_fetch(request: HttpRequest) -> int:
    """``?max=`` between 1 and 100, else ``NUM_TO_FETCH``."""
    default = int(get_config()["NUM_TO_FETCH"])
    try:
        num_to_fetch = int(request.GET.get("max", default))
    except ValueError:
        return default
    return num_to_fetch if 1 <= num_to_fetch <= 100 else default


def get_notification_list(request: HttpRequest, method_name: str = "all") -> list[dict[str, Any]]:
    """The user's newest notifications as hq's dicts (``?mark_as_read=1`` marks them
    read, unless another site caused the request).

    The generic relations are prefetched: one query per kind of related object, not
    three per notification as in hq.
    """
    num_to_fetch = get_num_to_fetch(request)
    notifications = getattr(request.user.notifications, method_name)()  # type: ignore[union-attr]
    rows = list(notifications.prefetch_related("actor", "target", "action_object")[0:num_to_fetch])
    mark_as_read = bool(request.GET.get("mark_as_read")) and not caused_by_other_site(request)
    notification_list = []
    for notification in rows:
        struct = model_to_dict(notification)
        struct["slug"] = id2slug(notification.id)
        if notification.actor:
            struct["actor"] = str(notification.actor)
        if notification.target:
            struct["target"] = str(notification.target)
        if notification.action_object:
            struct["action_object"] = str(notification.action_object)
        if notification.data:
            struct["data"] = notification.data
        notification_list.append(struct)
        if mark_as_read:
            notification.mark_as_read()
    return notification_list
