"""URL patterns of the REST API, to include under a prefix of the project's choice::

    path("api/notifications/", include("livebell.urls"))

Names are in the ``livebell`` namespace, e.g. ``reverse("livebell:notification-list")``.
See docs/api.md.
"""

from __future__ import annotations

from django.urls import path

from livebell.rest import mutes, preferences, views

__all__ = ["app_name", "urlpatterns"]

app_name = "livebell"

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="notification-list"),
    path("unread-count/", views.UnreadCountView.as_view(), name="unread-count"),
    path("mark-read/", views.MarkReadView.as_view(), name="mark-read"),
    path("mark-unread/", views.MarkUnreadView.as_view(), name="mark-unread"),
    path("mark-all-read/", views.MarkAllReadView.as_view(), name="mark-all-read"),
    path("preferences/", preferences.PreferencesView.as_view(), name="preferences"),
    path("mutes/", mutes.MuteListView.as_view(), name="mute-list"),
    path("mutes/<str:id>/", mutes.MuteDetailView.as_view(), name="mute-detail"),
    # Last: <str:id> would also match the names above. Any segment is taken so that
    # a malformed id gets the API's JSON 404, not the site's HTML one.
    path("<str:id>/", views.NotificationDetailView.as_view(), name="notification-detail"),
]
