"""URL patterns of the REST API, to include under a prefix of the project's choice::

    path("api/notifications/", include("livebell.urls"))

Names are in the ``livebell`` namespace, e.g. ``reverse("livebell:notification-list")``.
See docs/api.md. Besides the API: ``jsi18n/`` (the widget's strings) and ``<id>/go/``
(open a notification, :func:`livebell.views.go`); see docs/widget.md.
"""

from __future__ import annotations

from django.urls import path
from django.views.i18n import JavaScriptCatalog

from livebell import views as pages
from livebell.rest import mutes, preferences, views

__all__ = ["app_name", "urlpatterns"]

app_name = "livebell"

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="notification-list"),
    path("unread-count/", views.UnreadCountView.as_view(), name="unread-count"),
    path("mark-read/", views.MarkReadView.as_view(), name="mark-read"),
    path("mark-unread/", views.MarkUnreadView.as_view(), name="mark-unread"),
    path("mark-all-read/", views.MarkAllReadView.as_view(), name="mark-all-read"),
    path("socket-ticket/", views.SocketTicketView.as_view(), name="socket-ticket"),
    # The widget's strings in the request's language (livebell's djangojs catalog).
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["livebell"]), name="jsi18n"),
    # A click on a notification: mark it read (same-site only) and open its target.
    path("<str:id>/go/", pages.go, name="go"),
    path("preferences/", preferences.PreferencesView.as_view(), name="preferences"),
    path("mutes/", mutes.MuteListView.as_view(), name="mute-list"),
    path("mutes/<str:id>/", mutes.MuteDetailView.as_view(), name="mute-detail"),
    # Last: <path:id> would also match the names above. Anything is taken, slashes
    # included (a %2F in the id arrives decoded), so that a malformed id gets the
    # API's JSON 404, not the site's HTML one.
    path("<path:id>/", views.NotificationDetailView.as_view(), name="notification-detail"),
]
