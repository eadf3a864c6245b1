"""The package's URLs where its README puts them (its JSON unread count among them)."""

from django.urls import include, path

urlpatterns = [
    path("inbox/notifications/", include("notifications.urls", namespace="notifications")),
]
