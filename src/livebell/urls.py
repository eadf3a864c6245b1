"""URL patterns of the REST API, to include under a prefix of the project's choice::

    path("api/notifications/", include("livebell.urls"))

Names are in the ``livebell`` namespace, e.g. ``reverse("livebell:notification-list")``.
See docs/api.md. Besides the API: ``stream/`` (the notifications as Server-Sent
Events, :mod:`livebell.live.stream`; docs/protocol.md), ``jsi18n/`` (the widget's
strings), ``<id>/go/`` (open a notification, :func:`livebell.views.go`; see
docs/widget.md), ``webpush/worker.js`` (the service worker of web push; see
docs/web-push.md) and ``email/unsubscribe/<token>/`` (docs/email.md). Any other
path under the prefix gets the API's JSON 404 (:func:`livebell.rest.errors.not_found`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import URLPattern, path, re_path
from django.urls.resolvers import RegexPattern
from django.views.i18n import JavaScriptCatalog

from livebell import views as pages
from livebell.live import stream
from livebell.reach import views as reach
from livebell.rest import mutes, preferences, views, webpush
from livebell.rest.errors import not_found

__all__ = ["app_name", "urlpatterns"]

app_name = "livebell"


class _Unmatched(RegexPattern):
    """A path no other route matched; but not one that Django's ``APPEND_SLASH``
    redirects (read at each request), so that redirect still happens."""

    def match(self, path: str) -> Any:
        appends_slash = settings.APPEND_SLASH and (
            "django.middleware.common.CommonMiddleware" in settings.MIDDLEWARE
        )
        if appends_slash and not path.endswith("/"):
            return None
        return super().match(path)


urlpatterns = [
    path("", views.NotificationListView.as_view(), name="notification-list"),
    path("unread-count/", views.UnreadCountView.as_view(), name="unread-count"),
    path("mark-read/", views.MarkReadView.as_view(), name="mark-read"),
    path("mark-unread/", views.MarkUnreadView.as_view(), name="mark-unread"),
    path("mark-all-read/", views.MarkAllReadView.as_view(), name="mark-all-read"),
    path("socket-ticket/", views.SocketTicketView.as_view(), name="socket-ticket"),
    # The session as Server-Sent Events, for clients whose network refuses the socket.
    path("stream/", stream.stream_view, name="stream"),
    # The widget's strings in the request's language (livebell's djangojs catalog).
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["livebell"]), name="jsi18n"),
    # A click on a notification: mark it read (same-site only) and open its target.
    path("<str:id>/go/", pages.go, name="go"),
    path("preferences/", preferences.PreferencesView.as_view(), name="preferences"),
    # The unsubscribe link of livebell's emails (a signed token; RFC 8058 one-click).
    path("email/unsubscribe/<str:token>/", reach.unsubscribe, name="email-unsubscribe"),
    path("mutes/", mutes.MuteListView.as_view(), name="mute-list"),
    path("mutes/<str:id>/", mutes.MuteDetailView.as_view(), name="mute-detail"),
    # Web Push (docs/web-push.md): the user's devices, a tab's "received live", and the
    # service worker, served from here so that it is on the site's origin.
    path(
        "webpush/subscriptions/",
        webpush.WebPushSubscriptionListView.as_view(),
        name="webpush-subscription-list",
    ),
    path(
        "webpush/subscriptions/<str:id>/",
        webpush.WebPushSubscriptionDetailView.as_view(),
        name="webpush-subscription-detail",
    ),
    path("webpush/received/", webpush.WebPushReceivedView.as_view(), name="webpush-received"),
    path("webpush/worker.js", pages.service_worker, name="webpush-worker"),
    # After the names above, which it would also match. Anything is taken, slashes
    # and line breaks included (a %2F or %0A in the id arrives decoded; [\s\S]
    # matches "\n", "." does not), so that a malformed id gets the API's JSON 404,
    # not the site's HTML one.
    re_path(
        r"^(?P<id>[\s\S]+)/\Z",
        views.NotificationDetailView.as_view(),
        name="notification-detail",
    ),
    # Last: every other path under the prefix (those without a trailing slash)
    # gets the API's JSON 404, unless CommonMiddleware redirects it to its form
    # with a slash, which the route above answers.
    URLPattern(_Unmatched(r"^[\s\S]+\Z", is_endpoint=True), not_found),
]
