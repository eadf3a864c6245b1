"""``{% load livebell %}``: the bell for a page's header and the full notifications page.

``{% livebell_bell %}`` renders the bell (``livebell/bell.html``) with the signed-in
user's unread count (one primary-key lookup) and loads the widget; it renders
nothing for an anonymous user. ``{% livebell_inbox %}`` renders the full page's list
(``livebell/inbox.html``), as :class:`livebell.views.NotificationsPage` does.
Both templates can be overridden like any app template. ``{% livebell_avatar user %}``
draws a user's avatar as the bell draws it (:mod:`livebell.avatars`). See docs/widget.md.
"""

from __future__ import annotations

import itertools
from typing import Any

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from livebell import avatars
from livebell.conf import livebell_settings
from livebell.models import Level
from livebell.storage import state

__all__ = ["livebell_avatar", "livebell_bell", "livebell_inbox", "register"]

register = template.Library()

DEFAULT_SOCKET_PATH = "/ws/notifications/"
_ids = itertools.count(1)

#: The levels' names as the page's filter shows them, translated.
LEVEL_LABELS = [
    (Level.INFO.value, _("Info")),
    (Level.SUCCESS.value, _("Success")),
    (Level.WARNING.value, _("Warning")),
    (Level.ERROR.value, _("Error")),
]


def _reverse(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def widget_context(context: template.Context, *, socket: str) -> dict[str, Any]:
    """What both templates need: the URLs, the CSRF token and the user's inbox state.

    Raises:
        django.urls.NoReverseMatch: ``livebell.urls`` is not in the project's URLs.
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return {"enabled": False}
    inbox = state.current([user.pk])[user.pk]
    from livebell.reach import webpush as web_push

    return {
        "enabled": True,
        "uid": f"livebell-{next(_ids)}",
        "api_url": reverse("livebell:notification-list"),
        "jsi18n_url": reverse("livebell:jsi18n"),
        "page_url": _reverse("livebell_pages:notifications"),
        "login_url": resolve_url(settings.LOGIN_URL),
        "socket_path": socket,
        "csrf_token": get_token(request),
        "unread_count": inbox.unread_count,
        "last_id": inbox.last_id,
        # The user has a device to web-push to: their tabs say what they received live.
        "webpush_ack": web_push.has_devices(user),
    }


@register.inclusion_tag("livebell/bell.html", takes_context=True)
def livebell_bell(
    context: template.Context,
    socket: str = DEFAULT_SOCKET_PATH,
    desktop: bool = True,
    title_count: bool = True,
    webpush: bool = True,
) -> dict[str, Any]:
    """The bell: a button with the unread badge, and its popover.

    Args:
        socket: the path of livebell's socket (``livebell.routing``).
        desktop: offer desktop notifications (asked for only when the user clicks).
        title_count: show the unread count in the page title, "(3) …".
        webpush: offer web push on this device ("Notify me on this device"), when the
            site has VAPID keys (docs/web-push.md) and the browser can.
    """
    from livebell.reach import webpush as web_push

    on = webpush and web_push.enabled()
    return {
        **widget_context(context, socket=socket),
        "desktop": desktop,
        "title_count": title_count,
        "webpush_key": livebell_settings.WEB_PUSH_VAPID_PUBLIC_KEY if on else "",
        "webpush_worker": reverse("livebell:webpush-worker") if on else "",
        # The device this session subscribed, if any: the switch shows it on.
        "webpush_device": (
            web_push.device_of_session(getattr(context.get("request"), "session", None))
            if on
            else None
        ),
    }


@register.inclusion_tag("livebell/inbox.html", takes_context=True)
def livebell_inbox(context: template.Context, socket: str = DEFAULT_SOCKET_PATH) -> dict[str, Any]:
    """The full list of the user's notifications, with filters and infinite scroll."""
    return {**widget_context(context, socket=socket), "levels": LEVEL_LABELS}


@register.simple_tag
def livebell_avatar(user: Any, css_class: str = "") -> SafeString:
    """A user's avatar (or a username's) with the bell's initials and colour.

    It is styled by bell.css (``.lb-avatar``), which ``{% livebell_bell %}`` loads;
    ``css_class`` adds classes, e.g. to size it.
    """
    name = user if isinstance(user, str) else user.get_username()
    return format_html(
        '<span class="lb-avatar{}" style="--lb-avatar-hue: {}" aria-hidden="true">{}</span>',
        f" {css_class}" if css_class else "",
        avatars.hue(name),
        avatars.initials(name),
    )
