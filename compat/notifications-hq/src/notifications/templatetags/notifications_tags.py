"""hq's template tags: ``{% load notifications_tags %}``.

``{% register_notify_callbacks %}`` also loads livebell's JS client, so that
``notifications/notify.js`` updates ``{% live_notify_badge %}`` and
``{% live_notify_list %}`` from livebell's socket, and polls hq's JSON endpoints
only when no socket opens.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.cache import cache
from django.template import Library
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from notifications.settings import get_config

register = Library()

__all__ = [
    "has_notification",
    "live_notify_badge",
    "live_notify_list",
    "notifications_unread",
    "register_notify_callbacks",
]


def get_cached_notification_unread_count(user: Any) -> int:
    # One key per user (hq 1.8.3 shared one key between all users).
    count = cache.get_or_set(
        f"notifications_unread_count:{user.pk}",
        user.notifications.unread().count,
        get_config()["CACHE_TIMEOUT"],
    )
    return int(count or 0)  # the counted value; get_or_set() is typed as maybe None


@register.simple_tag(takes_context=True)
def notifications_unread(context: Any) -> Any:
    user = user_context(context)
    if not user:
        return ""
    return get_cached_notification_unread_count(user)


@register.filter
def has_notification(user: Any) -> bool:
    if user:
        return bool(user.notifications.unread().exists())
    return False


def _livebell_api() -> str | None:
    """Where ``livebell.urls`` is mounted, or None."""
    try:
        return reverse("livebell:unread-count").rsplit("unread-count/", 1)[0]
    except NoReverseMatch:
        return None


@register.simple_tag
def register_notify_callbacks(
    badge_class: str = "live_notify_badge",
    menu_class: str = "live_notify_list",
    refresh_period: int = 15,
    callbacks: str = "",
    api_name: str = "list",
    fetch: int = 5,
    nonce: str | None = None,
    mark_as_read: bool = False,
    socket: str = "/ws/notifications/",
) -> SafeString | str:
    """The settings of ``notify.js`` and its callbacks, as hq's tag; plus livebell's
    client and where its socket and REST API are (``socket``: the socket's path)."""
    if api_name == "list":
        api_url = reverse("notifications:live_unread_notification_list")
    elif api_name == "count":
        api_url = reverse("notifications:live_unread_notification_count")
    else:
        return ""
    livebell_api = _livebell_api()
    definitions = {
        "notify_badge_class": str(badge_class),
        "notify_menu_class": str(menu_class),
        "notify_api_url": api_url,
        "notify_fetch_count": str(fetch),
        "notify_unread_url": reverse("notifications:unread"),
        "notify_mark_all_unread_url": reverse("notifications:mark_all_as_read"),
        "notify_refresh_period": int(refresh_period) * 1000,
        "notify_mark_as_read": str(mark_as_read).lower() in ("true", "1"),
        "notify_livebell_api": livebell_api,
        "notify_livebell_socket": str(socket),
    }
    # json.dumps, then <, > and & escaped: the values cannot end the script element.
    script = "".join(
        f"{name}={json.dumps(value)};".replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        for name, value in definitions.items()
    )
    for callback in callbacks.split(","):
        callback = callback.strip()
        if callback.isidentifier():
            script += f"register_notifier({callback});"
    nonce_attr = format_html(' nonce="{}"', nonce) if nonce else ""
    client = (
        format_html('<script src="{}"{}></script>', static("livebell/livebell.js"), nonce_attr)
        if livebell_api
        else ""
    )
    return format_html(
        '{}<script type="text/javascript"{}>{}</script>', client, nonce_attr, mark_safe(script)
    )


@register.simple_tag(takes_context=True)
def live_notify_badge(context: Any, badge_class: str = "live_notify_badge") -> SafeString | str:
    user = user_context(context)
    if not user:
        return ""
    return format_html(
        "<span class='{}'>{}</span>", badge_class, get_cached_notification_unread_count(user)
    )


@register.simple_tag
def live_notify_list(list_class: str = "live_notify_list") -> SafeString:
    return format_html("<ul class='{}'></ul>", list_class)


def user_context(context: Any) -> Any:
    if "user" not in context:
        return None
    user = context["request"].user
    if user.is_anonymous:
        return None
    return user
